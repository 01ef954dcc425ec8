"""The reads of /metrics and the cost pages as the history grows (issue 24.5).

`python -m bench.counts [--sizes 10000,100000,1000000]` fills a fresh SQLite file and a fresh
PostgreSQL database with that many finished tasks (each with a cost, a delivery and an attempt;
the counts' triggers run as they would), folds the counts (on PostgreSQL then VACUUMs the
deltas' table, as autovacuum would), then times (median of 20) what one
scrape of /metrics reads (`stats.snapshot`), the costs API's totals (`cost_totals`) and the
dashboard's 30-day chart (`stats.daily_costs`); beside them, the GROUP BY over the whole history
they replaced. Figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench.postgres import fresh_postgres
from receiver.services.counts import fold_all
from store import open_store
from store.interface import TaskStore

SAMPLES = 20
FULL_SCAN = (  # what a scrape read before m014
    "SELECT provider, status, count(*) FROM tasks GROUP BY provider, status",
    "SELECT status, count(*) FROM deliveries GROUP BY status",
    "SELECT s.channel, a.outcome, count(*) FROM attempts a JOIN deliveries d"
    " ON d.id = a.delivery_id JOIN destinations s ON s.id = d.destination_id"
    " GROUP BY s.channel, a.outcome",
)
TASKS_SQL = (
    "INSERT INTO tasks (id, provider, model, status, progress, created_at, updated_at,"
    " request, cost_usd, provider_task_id) SELECT 'tsk_' || {n}, CASE WHEN {n} % 2 = 0"
    " THEN 'wave' ELSE 'piapi' END, 'm', 'succeeded', 100,"
    " {time[2026-12-0' || (n % 9 + 1) || 'T10:00:00.000Z]}, {time[2026-12-10T10:00:00.000Z]},"
    " '{{}}', 0.25, 'p-' || {n} FROM {series}"
)
DELIVERIES_SQL = (
    "INSERT INTO deliveries (task_id, state, destination_id, status, attempts)"
    " SELECT 'tsk_' || {n}, 'succeeded', 1, 'delivered', 1 FROM {series}"
)
ATTEMPTS_SQL = (
    "INSERT INTO attempts (delivery_id, started_at, duration_ms, outcome, status_code)"
    " SELECT {n}, {time[2026-12-10T10:00:00.000Z]}, 1.0, 'delivered', 204 FROM {series}"
)
DESTINATION_SQL = (
    "INSERT INTO destinations (id, task_id, channel, target, label, route_key)"
    " VALUES (1, NULL, 'webhook', 'x', 'x', 'r')"
)


class Times:
    """`{time[ISO]}` in a statement: the time as each database takes it (ISO 8601 text on
    SQLite, a timestamptz on PostgreSQL)."""

    def __init__(self, form: str) -> None:
        self.form = form

    def __getitem__(self, text: str) -> str:
        return self.form.format(text)


def _sqlite_fill(path: str, start: int, stop: int) -> None:
    series = (f"(WITH RECURSIVE s(n) AS (SELECT {start + 1} UNION ALL SELECT n + 1 FROM s"
              f" WHERE n < {stop}) SELECT n FROM s)")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        if start == 0:
            conn.execute(DESTINATION_SQL)
        for sql in (TASKS_SQL, DELIVERIES_SQL, ATTEMPTS_SQL):
            conn.execute(sql.format(n="n", series=series, time=Times("'{}'")))
        conn.commit()


async def _postgres_fill(url: str, start: int, stop: int) -> None:
    series = f"generate_series({start + 1}, {stop}) AS n"
    conn = await asyncpg.connect(url)
    try:
        if start == 0:
            await conn.execute(DESTINATION_SQL)
        for sql in (TASKS_SQL, DELIVERIES_SQL, ATTEMPTS_SQL):
            await conn.execute(sql.format(n="n", series=series,
                                          time=Times("CAST('{}' AS timestamptz)")))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _median_ms(call: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(SAMPLES):
        began = time.perf_counter()
        await call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def _full_scan_ms(database: str, store: TaskStore) -> float:
    if database.startswith("postgres"):
        conn = await asyncpg.connect(database)
        try:
            async def scan() -> None:
                for sql in FULL_SCAN:
                    await conn.fetch(sql)
            return await _median_ms(scan)
        finally:
            await conn.close()

    def scan_file() -> None:
        with contextlib.closing(sqlite3.connect(database)) as conn:
            for sql in FULL_SCAN:
                conn.execute(sql).fetchall()

    return await _median_ms(lambda: asyncio.to_thread(scan_file))


async def measure(database: str, tasks: int) -> str:
    """One table row: the reads at this size."""
    store = await open_store(database)
    try:
        await fold_all(store)
        if database.startswith("postgres"):  # autovacuum's part, which a bench cannot wait for
            conn = await asyncpg.connect(database)
            await conn.execute("VACUUM count_deltas")
            await conn.close()
        snapshot = await _median_ms(store.stats.snapshot)
        totals = await _median_ms(store.cost_totals)
        daily = await _median_ms(lambda: store.stats.daily_costs("2026-11-05"))
        full = await _full_scan_ms(database, store)
    finally:
        await store.close()
    kind = "PostgreSQL" if database.startswith("postgres") else "SQLite"
    return (f"| {kind} | {tasks:,} | {snapshot:.2f} | {totals:.2f} | {daily:.2f}"
            f" | {full:.1f} |")


async def run(sizes: list[int]) -> None:
    """Each size on both databases, printed as a table."""
    print("| database | tasks | /metrics read ms | cost totals ms | 30-day chart ms"
          " | the old full GROUP BY ms |\n|---|---:|---:|---:|---:|---:|", flush=True)
    with tempfile.TemporaryDirectory(prefix="reelhook-counts-") as tmp:
        path = str(Path(tmp) / "counts.db")
        await (await open_store(path)).close()
        done = 0
        for size in sizes:
            await asyncio.to_thread(_sqlite_fill, path, done, size)
            done = size
            print(await measure(path, size), flush=True)
    async with fresh_postgres() as url:
        done = 0
        for size in sizes:
            await _postgres_fill(url, done, size)
            done = size
            print(await measure(url, size), flush=True)


def main() -> int:
    """Parse the sizes and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.counts", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    asyncio.run(run([int(size) for size in args.sizes.split(",")]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
