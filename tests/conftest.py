"""Shared fixtures: the real app on loopback, provider simulators as real servers, a temp DB."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from dispatcher.sinks import MailSink, SlackSink, WebhookSink
from receiver.app import create_app
from receiver.providers.sandbox import LocalServer, PiapiSimulator
from receiver.providers.sandbox.apimart import ApimartSimulator
from receiver.providers.sandbox.onemin import OneminSimulator
from receiver.providers.sandbox.wave import WaveSimulator
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


SimT = TypeVar("SimT", bound=Any)


@contextlib.asynccontextmanager
async def serving(sim: SimT) -> AsyncIterator[SimT]:
    """Serve a simulator on loopback and tell it its own base URL."""
    async with LocalServer(sim.app()) as server:
        sim.base_url = server.url
        yield sim


@pytest.fixture
async def piapi_sim() -> AsyncIterator[PiapiSimulator]:
    async with serving(PiapiSimulator()) as sim:
        yield sim


@pytest.fixture
async def wave_sim() -> AsyncIterator[WaveSimulator]:
    async with serving(WaveSimulator()) as sim:
        yield sim


@pytest.fixture
async def apimart_sim() -> AsyncIterator[ApimartSimulator]:
    async with serving(ApimartSimulator()) as sim:
        yield sim


@pytest.fixture
async def onemin_sim() -> AsyncIterator[OneminSimulator]:
    async with serving(OneminSimulator()) as sim:
        yield sim


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "reelhook.db")


@pytest.fixture
def settings(
    db_path: str,
    piapi_sim: PiapiSimulator,
    wave_sim: WaveSimulator,
    apimart_sim: ApimartSimulator,
    onemin_sim: OneminSimulator,
) -> Settings:
    port = free_port()
    return Settings(
        api_tokens=(API_TOKEN,),
        secret_key=new_fernet_key().encode(),
        database=db_path,
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        providers={
            "piapi": ProviderSettings(piapi_sim.api_key, piapi_sim.base_url),
            "wave": ProviderSettings(wave_sim.api_key, wave_sim.base_url),
            "apimart": ProviderSettings(apimart_sim.api_key, apimart_sim.base_url),
            "onemin": ProviderSettings(onemin_sim.api_key, onemin_sim.base_url),
        },
        provider_timeout=5.0,
        allow_private_urls=True,
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


# Notice destinations on loopback (dispatcher tests): a Slack-compatible webhook, a webhook
# receiver verifying our signatures with the standardwebhooks package, a real SMTP server.
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAST_RETRIES: dict[str, Any] = {
    "retry_schedule": (0.05, 0.05, 0.05), "dispatch_interval": 0.02, "delivery_timeout": 2.0,
    "slack_min_interval": 0.0,
}


@pytest.fixture
async def slack_sink() -> AsyncIterator[SlackSink]:
    sink = SlackSink()
    server = await LocalServer(sink.app()).start()
    sink.url = f"{server.url}/services/T0SINK/B0SINK/xoxSecretHookToken42"
    yield sink
    sink.release()
    await server.stop()


@pytest.fixture
async def webhook_sink() -> AsyncIterator[WebhookSink]:
    sink = WebhookSink(WEBHOOK_SECRET)
    server = await LocalServer(sink.app()).start()
    sink.url = f"{server.url}/hooks/reelhook?key=privateQueryKey77"
    yield sink
    sink.release()
    await server.stop()


@pytest.fixture
async def mail_sink() -> AsyncIterator[MailSink]:
    sink = await MailSink().start()
    yield sink
    await sink.stop()


def wave(**fields: Any) -> dict[str, Any]:
    """A valid Wave SkyReels V4 request, with fields overridden."""
    body = {"provider": "wave", "model": "skyreels-v4-fast", "prompt": "a shiba walks on the moon",
            "duration": 5, "resolution": "720p"}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def apimart(**fields: Any) -> dict[str, Any]:
    """A valid APIMart SkyReels V4 request, with fields overridden."""
    body = {"provider": "apimart", "model": "skyreels-v4-fast",
            "prompt": "a serene forest at sunset", "duration": 5}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


PNG_DATA_URI = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhg"
    "GAWjR9awAAAABJRU5ErkJggg=="
)


def onemin(**fields: Any) -> dict[str, Any]:
    """A valid 1min.ai SkyReels request (image as a data URI), with fields overridden."""
    body = {"provider": "onemin", "model": "Qubico/skyreels", "prompt": "FPS-24, a woman smiles",
            "image": PNG_DATA_URI}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


async def wait_delivered(
    client: TestClient[web.Request, web.Application], task_id: str, count: int = 1,
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """Wait until `count` of the task's deliveries are delivered or dead; return them all."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await (await client.get(f"/v1/tasks/{task_id}/deliveries")).json()
        done = [d for d in body["deliveries"] if d["status"] in ("delivered", "dead")]
        if len(done) >= count:
            return list(body["deliveries"])
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"deliveries of {task_id} still open: {body}")
        await asyncio.sleep(0.02)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    """Say where the browser tests left their screenshots."""
    from tests.browser import artefacts_dir

    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return
    folder = artefacts_dir(factory.getbasetemp())
    shots = sorted(path.name for path in folder.glob("*.png"))
    if shots:
        terminalreporter.write_line(f"browser screenshots ({len(shots)}) in {folder}")
