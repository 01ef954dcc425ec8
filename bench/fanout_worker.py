"""The fan-out side of the bench, run in its own process: `python -m bench.fanout_worker`.

It records N finished tasks, each with a webhook destination on the local receiver, then runs
the dispatcher's outbox worker until nothing is due, and prints one JSON line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.ceiling import ceiling
from bench.procs import own_peak_memory_mb
from dispatcher.config import DispatchConfig
from dispatcher.worker import Worker
from receiver.logs import configure_logging
from receiver.runtime import event_loops
from receiver.runtime.gc_tuning import tune_for_long_life
from receiver.services.secrets import SecretBox, new_fernet_key
from receiver.settings.event_loop import default_loop
from store import EventIn, NewDestination, NewTask, Observation, SqliteStore
from store.models import new_task_id

CHUNK = 500
DESTINATIONS = 50  # the tasks' webhook addresses (each its own route, as clients' endpoints are)
# Short and long enough that a delivery refused at random half the time is never given up on
# (30 refusals in a row: odds of 1 in 10^9), yet the round ends in a minute or two.
RETRY_SCHEDULE = (0.2,) * 30


async def record_finished_tasks(store: SqliteStore, box: SecretBox, url: str, count: int) -> None:
    """`count` tasks with one webhook destination each (one of DESTINATIONS addresses, in
    turn), every one of them succeeded."""
    destinations = [_destination(box, f"{url}?d={n}", f"bench-route-{n}")
                    for n in range(DESTINATIONS)]
    for start in range(0, count, CHUNK):
        ids = [new_task_id() for _ in range(min(CHUNK, count - start))]
        await asyncio.gather(*(
            store.create_task(NewTask(
                id=i, provider="piapi", model="Qubico/skyreels", request={},
                destinations=(destinations[(start + n) % DESTINATIONS],)))
            for n, i in enumerate(ids)
        ))
        done = Observation("succeeded", 100, f"https://videos.example.com/{start}.mp4")
        event = EventIn("bench:done", "poll", done)
        await asyncio.gather(*(store.record_event(i, event) for i in ids))


def _destination(box: SecretBox, url: str, route: str) -> NewDestination:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    target = box.encrypt(json.dumps({"url": url, "secret": secret}))
    return NewDestination("webhook", target, "http://127.0.0.1/…", route)


async def dispatch_all(store: SqliteStore, box: SecretBox, timeout: float) -> float:
    """Run one outbox worker until no delivery is left to try (or `timeout`); the seconds taken."""
    config = DispatchConfig(
        decrypt=box.decrypt, schedule=RETRY_SCHEDULE, jitter=0.0, timeout=5.0,
        poll_interval=0.05,
    )
    worker = Worker(store.outbox, config, session_factory=aiohttp.ClientSession)
    started = time.monotonic()
    running = asyncio.create_task(worker.run())
    try:
        while time.monotonic() - started < timeout and await _unfinished(store.path):
            await asyncio.sleep(0.05)
        return time.monotonic() - started
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def _unfinished(database: str) -> int:
    def count() -> int:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')"
            ).fetchone()
            return int(row[0])
        finally:
            conn.close()

    return await asyncio.to_thread(count)


async def run(
    database: str, url: str, count: int, timeout: float, ceiling_url: str | None
) -> dict[str, Any]:
    """Set up, dispatch, and report what the outbox holds afterwards (and the ceiling)."""
    box = SecretBox(new_fernet_key().encode())
    # Logging set up as `reelhook worker` sets it up (INFO), into the void.
    configure_logging("text", "info", open(os.devnull, "w"))  # noqa: SIM115 (to the end)
    store = await SqliteStore.open(database)
    try:
        await record_finished_tasks(store, box, url, count)
        tune_for_long_life()  # as `reelhook worker` does
        cpu = time.process_time()
        seconds = await dispatch_all(store, box, timeout)
        cpu = time.process_time() - cpu
    finally:
        await store.close()
    limit = DispatchConfig(decrypt=box.decrypt).concurrency
    bare, bare_cpu = 0.0, 0.0
    if ceiling_url:
        bare_cpu = time.process_time()
        bare = await ceiling(ceiling_url, count, limit)
        bare_cpu = time.process_time() - bare_cpu
    return {"seconds": seconds, **outbox_counts(database), "peak_memory_mb": own_peak_memory_mb(),
            "ceiling_per_second": bare, "concurrency": limit,
            "cpu_us_per_attempt": cpu / max(1, outbox_counts(database)["attempts"]) * 1e6,
            "ceiling_cpu_us_per_post": bare_cpu / count * 1e6}


def outbox_counts(database: str) -> dict[str, Any]:
    """Deliveries by status and the number of attempts recorded."""
    conn = sqlite3.connect(database)
    try:
        statuses = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status"))
        attempts = conn.execute("SELECT count(*) FROM attempts").fetchone()[0]
    finally:
        conn.close()
    return {"statuses": statuses, "attempts": attempts}


def main(argv: Sequence[str] | None = None) -> None:
    """Parse options, run, print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.fanout_worker")
    parser.add_argument("--database", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--ceiling-url", help="also measure a bare client posting here")
    args = parser.parse_args(argv)
    Path(args.database).parent.mkdir(parents=True, exist_ok=True)
    # The loop `reelhook worker` runs on (REELHOOK_EVENT_LOOP's default); the ceiling shares it.
    figures = event_loops.run(
        run(args.database, args.url, args.count, args.timeout, args.ceiling_url),
        default_loop(),
    )
    print("FANOUT " + json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
