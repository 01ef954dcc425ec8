"""Shared fixtures: the real app on loopback, provider simulators as real servers, a temp DB."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from receiver.app import create_app
from receiver.providers.sandbox import LocalServer, PiapiSimulator
from receiver.secrets import new_fernet_key
from receiver.settings import ProviderSettings, Settings

API_TOKEN = "test-token-0123456789abcdef"
IMAGE_URL = "https://images.example.com/girl.webp"
TERMINAL = {"succeeded", "failed", "cancelled"}


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def piapi_sim() -> AsyncIterator[PiapiSimulator]:
    sim = PiapiSimulator()
    server = await LocalServer(sim.app()).start()
    sim.base_url = server.url
    yield sim
    await server.stop()


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "reelhook.db")


@pytest.fixture
def settings(db_path: str, piapi_sim: PiapiSimulator) -> Settings:
    port = free_port()
    return Settings(
        api_tokens=(API_TOKEN,),
        secret_key=new_fernet_key().encode(),
        database=db_path,
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        providers={"piapi": ProviderSettings(piapi_sim.api_key, piapi_sim.base_url)},
        provider_timeout=5.0,
    )


StartApp = Callable[..., Any]


@pytest.fixture
def start_app(aiohttp_server: Any, aiohttp_client: Any, settings: Settings) -> StartApp:
    """Start the real app on its configured port; keyword arguments override settings."""

    async def start(**overrides: Any) -> TestClient[web.Request, web.Application]:
        chosen = replace(settings, **overrides)
        server = await aiohttp_server(create_app(chosen), port=chosen.port)
        return await aiohttp_client(server, headers={"Authorization": f"Bearer {API_TOKEN}"})

    return start


@pytest.fixture
async def client(start_app: StartApp) -> TestClient[web.Request, web.Application]:
    return await start_app()


async def wait_for_status(
    client: TestClient[web.Request, web.Application],
    task_id: str,
    statuses: set[str] = TERMINAL,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Poll the client API until the task reaches one of `statuses`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.get(f"/v1/tasks/{task_id}")
        task: dict[str, Any] = await response.json()
        if task["status"] in statuses:
            return task
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"task {task_id} stuck in {task['status']}")
        await asyncio.sleep(0.02)


def skyreels(**fields: Any) -> dict[str, Any]:
    """A valid PiAPI SkyReels request, with fields overridden."""
    body = {"provider": "piapi", "model": "Qubico/skyreels", "prompt": "FPS-24, a woman smiles",
            "image": IMAGE_URL}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def framepack(**fields: Any) -> dict[str, Any]:
    """A valid PiAPI Framepack request, with fields overridden."""
    body = {"provider": "piapi", "model": "Qubico/framepack", "prompt": "camera zooms in",
            "image": IMAGE_URL, "duration": 10}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}
