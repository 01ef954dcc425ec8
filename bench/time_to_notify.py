"""Time to notify with a separate worker process (issue 24.6).

`python -m bench.time_to_notify [--samples 200]`: this process records tasks' successes in the
database as a `reelhook serve` would; an outbox worker in another process (as `reelhook worker`
runs it, looking on its own every second) sends each notice to a receiver here. The time is from
the moment the success is handed to the store to the notice's arrival, per task, one at a time.
Three topologies: one SQLite file with the doorbell (store/sqlite/doorbell.py), the same file
with the worker not listening (its once-a-second look alone, as before the doorbell), and one
PostgreSQL database (LISTEN/NOTIFY). Figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench.databases import _hook
from bench.postgres import fresh_postgres
from bench.procs import python_argv
from dispatcher.config import DispatchConfig
from dispatcher.worker import Worker
from receiver.sandbox.providers import LocalServer
from receiver.services.secrets import SecretBox, new_fernet_key
from store import EventIn, NewTask, Observation, open_store
from store.interface import DELIVERIES
from store.models import new_task_id

LOOK_EVERY = 1.0  # seconds: `reelhook worker`'s own look (REELHOOK_DISPATCH_INTERVAL)


async def measure(database: str, samples: int, listen: bool) -> list[float]:
    """Milliseconds from each success handed to the store to its notice's arrival."""
    arrived: dict[str, float] = {}

    async def hook(request: web.Request) -> web.Response:
        arrived[request.query["task"]] = time.perf_counter()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    key = new_fernet_key()
    box = SecretBox(key.encode())
    store = await open_store(database)
    worker = await asyncio.create_subprocess_exec(
        *python_argv("-m", "bench.time_to_notify", "--worker", database, "--key", key,
                     *(["--listen"] if listen else [])), stdout=asyncio.subprocess.PIPE)
    try:
        assert worker.stdout is not None
        await worker.stdout.readline()  # READY
        async with LocalServer(app) as receiver:
            delays = []
            for _ in range(samples):
                task_id = new_task_id()
                await store.create_task(NewTask(
                    id=task_id, provider="piapi", model="Qubico/skyreels", request={},
                    destinations=(_hook(box, f"{receiver.url}/hook", task_id),)))
                await asyncio.sleep(random.uniform(0.0, 0.05))  # not in step with the look
                began = time.perf_counter()
                await store.record_event(task_id, EventIn("done", "poll", Observation("succeeded")))
                while task_id not in arrived:
                    await asyncio.sleep(0.0005)
                delays.append((arrived[task_id] - began) * 1000)
            return delays
    finally:
        worker.terminate()
        await worker.wait()
        await store.close()


async def run_worker(database: str, key: str, listen: bool) -> None:
    """The worker side: send until terminated."""
    store = await open_store(database, migrate=False)
    config = DispatchConfig(decrypt=SecretBox(key.encode()).decrypt, poll_interval=LOOK_EVERY,
                            allow_private=True)
    worker = Worker(store.outbox, config, session_factory=aiohttp.ClientSession)
    if listen:
        store.subscribe(DELIVERIES, lambda _: worker.wake())
    print("READY", flush=True)
    try:
        await worker.run()
    finally:
        await store.close()


def summary(name: str, delays: list[float]) -> str:
    """One Markdown table row."""
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"| {name} | {len(ordered)} | {statistics.median(ordered):.1f} | {p99:.1f}"
            f" | {ordered[-1]:.1f} |")


async def run_all(samples: int) -> None:
    """Every topology, one after the other, printed as a table."""
    print("| topology | notices | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="reelhook-notify-") as tmp:
        path = str(Path(tmp) / "reelhook.db")
        print(summary("SQLite, serve + worker, doorbell", await measure(path, samples, True)),
              flush=True)
        print(summary("SQLite, serve + worker, worker's own look (1 s) only",
                      await measure(path, max(20, samples // 10), False)), flush=True)
    async with fresh_postgres() as url:
        print(summary("PostgreSQL, serve + worker, LISTEN/NOTIFY",
                      await measure(url, samples, True)), flush=True)


def main() -> int:
    """Measure, or be the worker of a measurement."""
    parser = argparse.ArgumentParser(prog="python -m bench.time_to_notify", description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--worker", metavar="DATABASE", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--listen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_worker(args.worker, args.key, args.listen))
        return 0
    asyncio.run(run_all(args.samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
