"""The offline demo: provider simulators and reelhook on loopback, a temporary database, real
tasks from submit to their end, and a table of what happened."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from receiver.app import create_app
from receiver.sandbox.demo_notices import NoticeSinks, notice_sinks, print_notices
from receiver.sandbox.providers import SIMULATORS, LocalServer
from receiver.sandbox.providers.onemin import PNG
from receiver.services.secrets import new_fernet_key
from receiver.settings import ProviderSettings, Settings
from receiver.terminal import task_table
from store.states import SUCCEEDED, TERMINAL

DEMO_TOKEN = "demo-token-0123456789abcdef"
IMAGE = "https://images.example.com/girl.webp"
DEMO_TASKS: list[dict[str, Any]] = [
    {"provider": "piapi", "model": "Qubico/skyreels", "image": IMAGE,
     "prompt": "FPS-24, a young woman with long dark hair smiles at the camera",
     "aspect_ratio": "16:9"},
    {"provider": "piapi", "model": "Qubico/framepack", "image": IMAGE,
     "prompt": "the camera zooms in slowly", "duration": 10},
    {"provider": "wave", "model": "skyreels-v4-fast", "duration": 5, "resolution": "720p",
     "prompt": "a Shiba Inu in a spacesuit walks on the moon, slow push-in"},
    {"provider": "apimart", "model": "skyreels-v4-std", "duration": 5, "resolution": "720p",
     "prompt": "@Actor-1 walks through a neon-lit street at night",
     "extra": {"ref_images": [{"tag": "@Actor-1", "type": "image", "image_urls": [IMAGE]}]}},
    {"provider": "onemin", "model": "Qubico/skyreels", "aspect_ratio": "9:16",
     "image": "data:image/png;base64," + base64.b64encode(PNG).decode(),
     "prompt": "FPS-24, a soft breeze moves her hair"},
]


async def run(timeout: float = 45.0) -> int:
    """Run the demo; 0 when every task succeeded."""
    with tempfile.TemporaryDirectory(prefix="reelhook-demo-") as folder:
        async with (
            notice_sinks() as sinks,
            _world(Path(folder), sinks) as (base_url, sims),
            httpx.AsyncClient(
                base_url=base_url, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}
            ) as client,
        ):
            ids = [await _submit(client, body) for body in DEMO_TASKS]
            tasks = [await _wait(client, task_id, timeout) for task_id in ids]
            await _settle(sims)
            await _print_report(client, tasks)
            await print_notices(client, sinks, tasks)
            kept = await _show_kept(sims, tasks)
    return 0 if kept and all(task["status"] == SUCCEEDED for task in tasks) else 1


@contextlib.asynccontextmanager
async def _world(folder: Path, sinks: NoticeSinks) -> AsyncIterator[tuple[str, list[Any]]]:
    async with contextlib.AsyncExitStack() as stack:
        sims: dict[str, Any] = {name: simulator() for name, simulator in SIMULATORS.items()}
        for sim in sims.values():
            sim.base_url = (await stack.enter_async_context(LocalServer(sim.app()))).url
        sock = _listening_socket()
        port = int(sock.getsockname()[1])
        settings = Settings(
            api_tokens=(DEMO_TOKEN,),
            secret_key=new_fernet_key().encode(),
            database=str(folder / "reelhook.db"),
            host="127.0.0.1",
            port=port,
            public_url=f"http://127.0.0.1:{port}",
            providers={
                name: ProviderSettings(sim.api_key, sim.base_url) for name, sim in sims.items()
            },
            poll_initial=0.2,
            poll_max_interval=1.0,
            provider_timeout=10.0,
            allow_private_urls=True,
            **sinks.settings(),
        )
        async with LocalServer(create_app(settings), sock=sock) as reelhook:
            where = ", ".join(f"{name} on {sim.base_url}" for name, sim in sims.items())
            print(f"reelhook on {reelhook.url}; simulators: {where}")
            yield reelhook.url, list(sims.values())


async def _submit(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await client.post("/v1/tasks", json=body)
    response.raise_for_status()
    task: dict[str, Any] = response.json()
    print(f"submitted {task['id']} to {task['provider']} {task['model']}: {task['status']}")
    return str(task["id"])


async def _wait(client: httpx.AsyncClient, task_id: str, timeout: float) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        task: dict[str, Any] = (await client.get(f"/v1/tasks/{task_id}")).json()
        video = task.get("video") or {}
        copying = video.get("status") == "pending" and video.get("error") is None
        finished = task["status"] in TERMINAL and not copying
        if finished or asyncio.get_running_loop().time() > deadline:
            return task
        await asyncio.sleep(0.05)


async def _settle(sims: list[Any]) -> None:
    for sim in sims:
        if hasattr(sim, "wait_idle"):
            await sim.wait_idle()


async def _show_kept(sims: list[Any], tasks: list[dict[str, Any]]) -> bool:
    """Let the providers forget their videos, then open each kept copy by its signed link (no
    API token); True when every succeeded task's video came back whole from reelhook."""
    for sim in sims:
        sim.videos.forget()
    print("\nThe providers have forgotten their videos; reelhook still has them:")
    whole = True
    async with httpx.AsyncClient() as anyone:
        for task in tasks:
            video = task.get("video") or {}
            if task["status"] != SUCCEEDED:
                continue
            if video.get("status") != "kept":
                print(f"  {task['id']}: not kept ({video.get('status')}: {video.get('error')})")
                whole = False
                continue
            body = (await anyone.get(video["url"])).content
            same = hashlib.sha256(body).hexdigest() == video["sha256"]
            whole = whole and same
            print(f"  {task['id']}: {len(body)} bytes of {video['content_type']} from"
                  f" {video['url'].split('?')[0]}, SHA-256 {'matches' if same else 'DIFFERS'}")
    return whole


async def _print_report(client: httpx.AsyncClient, tasks: list[dict[str, Any]]) -> None:
    print()
    print(task_table(tasks))
    for task in tasks:
        events = (await client.get(f"/v1/tasks/{task['id']}/events")).json()["events"]
        trail = " -> ".join(
            f"{e['source']}:{e['provider_status'] or e['status'] or '?'}" for e in events
        )
        print(f"\n{task['id']} events: {trail}")


def _listening_socket() -> socket.socket:
    """Bound to port 0 before the settings name the public URL, so no other server can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock
