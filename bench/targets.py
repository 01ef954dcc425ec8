"""The four servers under test, started and ready to take callbacks.

reelhook is a real `reelhook serve` process configured through its environment, pointed at the
PiAPI simulator (told to send no callbacks of its own), with tasks created through POST /v1/tasks.
The per-task secrets are read where only the provider sees them: the simulator's record of each
Create Task request.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from bench.payload import Target
from bench.procs import SERVER_CORE, ServerProcess, free_port, python_argv, start_server
from receiver.sandbox.providers import LocalServer, PiapiSimulator
from receiver.services.secrets import new_fernet_key
from store import is_postgres

API_TOKEN = "bench-token-0123456789abcdef"
NAIVE_TASKS = "naive-task-{:05d}"
LEAN_TASKS = "lean-task-{:05d}"


def start_baseline(workdir: Path) -> ServerProcess:
    """The bare aiohttp app."""
    port = free_port()
    argv = python_argv("-m", "bench.servers", "baseline", "--port", str(port))
    return start_server("baseline", argv, port, {}, workdir)


def start_naive(workdir: Path, count: int) -> tuple[ServerProcess, list[Target]]:
    """The hand-written receiver with `count` tasks, each with its own secret."""
    targets = [
        Target(f"/callbacks/piapi/{NAIVE_TASKS.format(i)}", f"naive-secret-{i:05d}-xxxxxxxx",
               f"naive-ptid-{i:05d}")
        for i in range(count)
    ]
    secrets_file = workdir / "naive-secrets.json"
    secrets_file.write_text(json.dumps({t.path.rsplit("/", 1)[1]: t.secret for t in targets}))
    port = free_port()
    argv = python_argv(
        "-m", "bench.servers", "naive", "--port", str(port),
        "--database", str(workdir / "naive.db"), "--secrets", str(secrets_file),
    )
    return start_server("naive", argv, port, {}, workdir), targets


def start_lean(workdir: Path, count: int) -> tuple[ServerProcess, list[Target]]:
    """The lean receiver (bench/lean.py) with `count` tasks, each with its own secret."""
    targets = [
        Target(f"/callbacks/piapi/{LEAN_TASKS.format(i)}", f"lean-secret-{i:05d}-xxxxxxxxx",
               f"lean-ptid-{i:05d}")
        for i in range(count)
    ]
    tasks_file = workdir / "lean-tasks.json"
    tasks_file.write_text(json.dumps(
        {t.path.rsplit("/", 1)[1]: [t.secret, t.provider_task_id] for t in targets}
    ))
    port = free_port()
    argv = python_argv(
        "-m", "bench.lean", "--port", str(port),
        "--database", str(workdir / "lean.db"), "--tasks", str(tasks_file),
    )
    return start_server("lean", argv, port, {}, workdir), targets


@asynccontextmanager
async def reelhook_with_tasks(
    workdir: Path,
    count: int,
    database: Path | str | None = None,
    *,
    name: str = "reelhook",
    processes: int = 1,
    core: int | None = SERVER_CORE,
) -> AsyncIterator[tuple[ServerProcess, list[Target]]]:
    """`reelhook serve` on a fresh port with `count` new PiAPI tasks, and their callback targets;
    `database` a SQLite file or a PostgreSQL URL, `processes` its WEB_CONCURRENCY, pinned to
    `core` (None: free to use every core)."""
    sim = PiapiSimulator()
    sim.script.drop_callbacks = True
    sim.script.step_delay = 3600.0  # the simulated tasks stay pending: only our load moves them
    async with LocalServer(sim.app()) as provider:
        sim.base_url = provider.url
        port = free_port()
        env = reelhook_env(port, database or workdir / "reelhook.db", provider.url, sim.api_key)
        env["WEB_CONCURRENCY"] = str(processes)
        server = await asyncio.to_thread(
            start_server, name, reelhook_argv(), port, env, workdir, core
        )
        try:
            await create_tasks(server.url, count)
            await _until_sent(sim, count)
            yield server, targets_of(sim)
        finally:
            await asyncio.to_thread(server.stop)


def reelhook_argv() -> list[str]:
    """`reelhook serve` from this interpreter's environment (python -m receiver where no script)."""
    script = Path(sys.executable).parent / "reelhook"
    return [str(script), "serve"] if script.exists() else python_argv("-m", "receiver", "serve")


def reelhook_env(
    port: int, database: Path | str, provider_url: str, api_key: str
) -> dict[str, str]:
    """The environment `reelhook serve` reads; `database` a SQLite file or a PostgreSQL URL."""
    postgres = is_postgres(str(database))
    return {
        "PORT": str(port),
        "REELHOOK_HOST": "127.0.0.1",
        # DATABASE_URL wins over REELHOOK_DATABASE: blank it where the database is SQLite
        "DATABASE_URL": str(database) if postgres else "",
        **({} if postgres else {"REELHOOK_DATABASE": str(database)}),
        "REELHOOK_API_TOKEN": API_TOKEN,
        "REELHOOK_SECRET_KEY": new_fernet_key(),
        "REELHOOK_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PIAPI_BASE_URL": provider_url,
        "PIAPI_API_KEY": api_key,
        # The ingest benchmarks measure callbacks; kept videos have a bench part of their own.
        "REELHOOK_VIDEO_STORE": "off",
    }


async def create_tasks(base_url: str, count: int, concurrency: int = 16) -> list[str]:
    """Create `count` SkyReels tasks through the client API; their reelhook ids."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30.0) as client:

        async def one(i: int) -> str:
            async with limit:
                answer = await client.post("/v1/tasks", json=task_body(i))
            answer.raise_for_status()
            return str(answer.json()["id"])

        return list(await asyncio.gather(*(one(i) for i in range(count))))


async def _until_sent(sim: PiapiSimulator, count: int, timeout: float = 60.0) -> None:
    """Wait (bounded) until every task has reached the simulated provider."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(sim.webhooks) < count:
        if loop.time() > deadline:
            raise RuntimeError(f"only {len(sim.webhooks)} of {count} tasks reached the provider")
        await asyncio.sleep(0.05)


def task_body(i: int) -> dict[str, str]:
    """A valid SkyReels request."""
    return {
        "provider": "piapi",
        "model": "Qubico/skyreels",
        "prompt": f"FPS-24, a woman smiles (bench task {i})",
        "image": "https://images.example.com/girl.webp",
    }


def targets_of(sim: PiapiSimulator) -> list[Target]:
    """Every callback address the simulator was given, with its secret and its task id there."""
    targets = []
    for provider_task_id, hook in sim.webhooks.items():
        path = "/" + hook["endpoint"].split("/", 3)[3]
        targets.append(Target(path, hook["secret"], provider_task_id))
    return targets
