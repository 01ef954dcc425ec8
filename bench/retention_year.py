"""A year of events at a steady rate, pruned with a short retention: the database's size stays
flat (issue 23.3).

`python -m bench.retention_year [--database sqlite|postgres] [--days 365] [--keep-days 30]`
writes each simulated day's tasks, events, deliveries and attempts (stamped with that day's
time) into a fresh database, then prunes as the worker does (`receiver.services.retention.prune`,
500 rows a batch, SQLite's incremental vacuum after it; on PostgreSQL a plain VACUUM of the pruned
tables stands in for autovacuum, which a year compressed into a minute never lets run), and
prints the size now and then, beside the same year kept whole. Figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.databases import database_of
from receiver.services.retention import prune
from store import TaskStore, is_postgres, open_store
from store.models import iso_from_epoch
from store.sql import Plan, many, value

DAY = 86400.0
PAYLOAD = json.dumps({"code": 200, "data": {"status": "processing", "output": {"progress": 50},
                                            "meta": {"note": "x" * 300}}})


def day_rows(day: int, tasks: int, events: int, start: float) -> dict[str, list[dict[str, Any]]]:
    """The rows one simulated day writes: `tasks` tasks of `events` events, a delivery and an
    attempt each, stamped within that day."""
    rows: dict[str, list[dict[str, Any]]] = {"tasks": [], "events": [], "deliveries": [],
                                             "attempts": []}
    for number in range(tasks):
        at = start + day * DAY + number * DAY / tasks
        task_id = f"tsk_{day:06d}{number:022d}"
        iso = iso_from_epoch(at)
        rows["tasks"].append({"id": task_id, "now": iso})
        rows["events"] += [{"task_id": task_id, "key": f"e{n}", "payload": PAYLOAD, "at": iso}
                           for n in range(events)]
        rows["deliveries"].append({"id": day * tasks + number + 1, "task_id": task_id, "now": iso})
        rows["attempts"].append({"delivery_id": day * tasks + number + 1, "at": iso})
    return rows


def write_day(rows: dict[str, list[dict[str, Any]]]) -> Plan[None]:
    """The day's rows, as the store writes them (its own statements, stamped with the day)."""
    yield many("INSERT INTO tasks (id, provider, model, status, progress, created_at, updated_at,"
               " request) VALUES (:id, 'piapi', 'Qubico/skyreels', 'succeeded', 100, :now, :now,"
               " '{}')", rows["tasks"])
    yield many("INSERT INTO events (task_id, dedupe_key, source, status, progress, payload,"
               " received_at) VALUES (:task_id, :key, 'callback', 'running', 50, :payload, :at)",
               rows["events"])
    yield many("INSERT INTO deliveries (id, task_id, state, destination_id, status, attempts,"
               " created_at, updated_at) VALUES (:id, :task_id, 'succeeded', 1, 'delivered', 1,"
               " :now, :now)", rows["deliveries"])
    yield many("INSERT INTO attempts (delivery_id, started_at, duration_ms, status_code, outcome)"
               " VALUES (:delivery_id, :at, 12.5, 200, 'delivered')", rows["attempts"])


async def size_of(database: str) -> int:
    """The database's size in bytes (SQLite: pages in use and free; PostgreSQL: on disk)."""
    if is_postgres(database):
        conn = await asyncpg.connect(database)
        try:
            return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await conn.close()
    with contextlib.closing(sqlite3.connect(database)) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        return int(pages * conn.execute("PRAGMA page_size").fetchone()[0])


async def autovacuum(database: str) -> None:
    """On PostgreSQL, what autovacuum does in the background (dead rows made reusable), done
    at each simulated day's end: the bench compresses days into milliseconds, autovacuum's
    naptime is a minute. SQLite's prune gave its space back already (incremental vacuum)."""
    if not is_postgres(database):
        return
    conn = await asyncpg.connect(database)
    try:
        for table in ("events", "attempts", "inbound_messages"):
            await conn.execute(f"VACUUM {table}")
    finally:
        await conn.close()


async def run_year(
    kind: str, workdir: Path, days: int, keep_days: float | None, tasks: int, events: int,
    every: int,
) -> list[dict[str, Any]]:
    """Write `days` days, pruning after each (unless `keep_days` is None); the size every
    `every` days."""
    sizes: list[dict[str, Any]] = []
    start = time.time() - days * DAY
    async with database_of(kind, workdir, f"keep-{keep_days}") as database:
        store: TaskStore = await open_store(database)
        try:
            await store.db.write(lambda: _destination())  # type: ignore[attr-defined]
            for day in range(days):
                rows = day_rows(day, tasks, events, start)
                await store.db.write(lambda rows=rows: write_day(rows))  # type: ignore[attr-defined]
                if keep_days is not None:
                    await prune(store, keep_days, now=start + (day + 1) * DAY, pause=0.0)
                    await autovacuum(database)
                if (day + 1) % every == 0 or day + 1 == days:
                    stored = await store.db.read(_count_events)  # type: ignore[attr-defined]
                    sizes.append({"day": day + 1, "mb": round(await size_of(database) / 1e6, 1),
                                  "events": stored})
        finally:
            await store.close()
    return sizes


def _count_events() -> Plan[int]:
    found = yield value("SELECT count(*) FROM events")
    return int(found)


def _destination() -> Plan[None]:
    yield many("INSERT INTO destinations (id, channel, target, label) VALUES (1, 'webhook',"
               " 'sealed', 'hook')", [{}])


def table(kind: str, kept: list[dict[str, Any]], whole: list[dict[str, Any]],
          keep_days: float) -> str:
    """Markdown: the size by day with retention and without."""
    lines = [f"| day | {kind}, {keep_days:g}-day retention: MB | events kept | kept whole: MB |"
             " events |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {a['day']} | {a['mb']:,} | {a['events']:,} | {b['mb']:,} | {b['events']:,} |"
              for a, b in zip(kept, whole, strict=True)]
    return "\n".join(lines)


def main() -> int:
    """Run the year twice (pruned, kept whole) and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.retention_year", description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep-days", type=float, default=30.0)
    parser.add_argument("--tasks-per-day", type=int, default=50)
    parser.add_argument("--events-per-task", type=int, default=40)
    parser.add_argument("--every", type=int, default=30, help="days between size readings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelhook-retention-") as tmp:
        shape = (args.days, args.tasks_per_day, args.events_per_task, args.every)
        days, tasks, events, every = shape
        began = time.monotonic()
        kept = asyncio.run(run_year(args.database, Path(tmp), days, args.keep_days, tasks,
                                    events, every))
        whole = asyncio.run(run_year(args.database, Path(tmp), days, None, tasks, events, every))
        print(f"{days} days x {tasks} tasks x {events} events"
              f" ({days * tasks * events:,} events) in {time.monotonic() - began:.0f} s")
        print(table(args.database, kept, whole, args.keep_days))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
