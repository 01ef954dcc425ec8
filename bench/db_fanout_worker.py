"""One outbox worker process on a shared database: `python -m bench.db_fanout_worker`.

Run k of these on one PostgreSQL database (or one on a SQLite file) already holding finished
tasks with pending notices: each sends what it can claim until none is left, then prints one JSON
line. They share the work through the store's claims (SKIP LOCKED on PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from bench.fanout_worker import RETRY_SCHEDULE
from dispatcher.config import DispatchConfig
from dispatcher.worker import Worker
from receiver.runtime.gc_tuning import tune_for_long_life
from receiver.services.secrets import SecretBox
from store import TaskStore, open_store
from store.interface import DELIVERIES


async def open_deliveries(store: TaskStore) -> int:
    """Deliveries still pending or being sent."""
    counts = {row["status"]: row["n"] for row in (await store.stats.snapshot())["deliveries"]}
    return int(counts.get("pending", 0)) + int(counts.get("sending", 0))


async def run(database: str, key: str, timeout: float) -> dict[str, Any]:
    """Send until no delivery is open (or `timeout`); the seconds this worker ran."""
    store = await open_store(database, migrate=False)
    box = SecretBox(key.encode())
    config = DispatchConfig(decrypt=box.decrypt, schedule=RETRY_SCHEDULE, jitter=0.0,
                            timeout=5.0, poll_interval=0.05)
    tune_for_long_life()  # as `reelhook worker` does
    worker = Worker(store.outbox, config, session_factory=aiohttp.ClientSession)
    store.subscribe(DELIVERIES, lambda _: worker.wake())
    started = time.monotonic()
    running = asyncio.create_task(worker.run())
    try:
        while time.monotonic() - started < timeout and await open_deliveries(store):
            await asyncio.sleep(0.05)
        seconds = time.monotonic() - started
        statuses = {row["status"]: row["n"] for row in (await store.stats.snapshot())["deliveries"]}
        return {"seconds": seconds, "statuses": statuses}
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await store.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse options, run, print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.db_fanout_worker")
    parser.add_argument("--database", required=True)
    parser.add_argument("--key", required=True, help="the Fernet key the targets are sealed with")
    parser.add_argument("--timeout", type=float, default=240.0)
    args = parser.parse_args(argv)
    print("WORKER " + json.dumps(asyncio.run(run(args.database, args.key, args.timeout))))


if __name__ == "__main__":
    main()
