"""The counts /metrics and the cost pages read (m014) on both databases: the migration's copy
of the history gives what the triggers keep, and no read of them walks the history."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncpg

from store import EventIn, NewDestination, NewTask, Observation, TaskStore, is_postgres, open_store
from store.migrations import count_backfill, text_day, timestamptz_day
from store.plans.outbox import AttemptRecord
from store.sqlite.schema import migrate

HOOK = NewDestination("webhook", "sealed-target", "hook", "route-1")


async def history(store: TaskStore) -> None:
    """Tasks of two providers in several states, with costs, notices and attempts."""
    for number in range(12):
        task_id = f"tsk_{number:028d}"
        await store.create_task(NewTask(task_id, "wave" if number % 3 else "piapi", "m", {},
                                        destinations=(HOOK,), cost_usd=number / 10 or None))
        if number % 2:
            sent = Observation("queued")
            await store.record_event(task_id, EventIn("s", "submit", sent, f"p-{number}"))
        if number % 4 == 1:
            await store.record_event(task_id, EventIn("f", "callback", Observation("failed")))
    ids = [row["delivery_id"] for row in await store.outbox.due(time.time() + 1, 0, 100)]
    now = time.time() + 1
    await store.outbox.claim(ids, "me", now, now - 30)
    await store.outbox.finish([AttemptRecord(i, now, 1.0, "delivered", 204) for i in ids], "me")


async def read_all(store: TaskStore) -> tuple[Any, ...]:
    snapshot = await store.stats.snapshot()
    return (snapshot, await store.cost_totals(), await store.cost_totals("failed"),
            await store.stats.daily_costs("2000-01-01"))


async def test_the_migrations_copy_of_the_history_gives_what_the_triggers_keep(
    database: str,
) -> None:
    store = await open_store(database)
    try:
        await history(store)
        kept = await read_all(store)
        await store.stats.fold()
        assert await read_all(store) == kept
        await recount_from_scratch(database, store)
        assert await read_all(store) == kept
        assert kept[0]["deliveries"] == [{"status": "delivered", "n": 3}]
        assert kept[0]["attempts"] == [{"channel": "webhook", "outcome": "delivered", "n": 3}]
    finally:
        await store.close()


async def recount_from_scratch(database: str, store: TaskStore) -> None:
    """Empty the counts and run m014's copy of the history again."""
    # A task's day as each database keeps its creation time now (timestamptz since m015).
    backfill = count_backfill(timestamptz_day if is_postgres(database) else text_day)
    statements = ["DELETE FROM count_totals", "DELETE FROM count_deltas", *backfill]
    if is_postgres(database):
        conn = await asyncpg.connect(database)
        try:
            async with conn.transaction():
                for statement in statements:
                    await conn.execute(statement)
        finally:
            await conn.close()
    else:
        def run(conn: sqlite3.Connection) -> None:
            for statement in statements:
                conn.execute(statement)

        await store.writer.run(run)  # type: ignore[attr-defined]


def test_a_file_upgraded_to_m014_counts_its_history(tmp_path: Path) -> None:
    old = str(tmp_path / "old.db")
    migrate(old, stop_before="m014_counts")
    with contextlib.closing(sqlite3.connect(old)) as conn:
        conn.executemany(
            "INSERT INTO tasks (id, provider, model, status, progress, created_at, updated_at,"
            " cost_usd, provider_task_id) VALUES (?, 'wave', 'm', ?, 0,"
            " '2026-12-01T10:00:00.000Z', 'x', ?, ?)",
            [("tsk_a", "succeeded", 0.25, "p-a"), ("tsk_b", "failed", None, "p-b"),
             ("tsk_c", "queued", 0.5, None)])
        conn.commit()
    migrate(old)
    with contextlib.closing(sqlite3.connect(old)) as conn:
        totals = sorted(conn.execute("SELECT kind, a, b, n, priced, micros FROM count_totals"))
    assert totals == [
        ("costs", "wave", "failed", 1, 0, 0),
        ("costs", "wave", "succeeded", 1, 1, 250_000),
        ("days", "wave", "2026-12-01", 3, 2, 750_000),
        ("tasks", "wave", "failed", 1, 0, 0),
        ("tasks", "wave", "queued", 1, 0, 0),
        ("tasks", "wave", "succeeded", 1, 0, 0),
    ]


def test_no_read_of_the_counts_walks_a_table_of_the_history(tmp_path: Path) -> None:
    """SQLite's plans for /metrics and the cost pages: no full scan of tasks, deliveries or
    attempts (the in-flight count reads the index of unfinished tasks)."""
    from store.plans import stats
    from store.sql import for_sqlite

    path = str(tmp_path / "r.db")
    migrate(path)
    queries = [stats._COUNTED.format(where="kind = 'days' AND b >= :since"),
               stats._COUNTED.format(where="kind IN ('tasks', 'deliveries')")]
    snapshot = stats.select_snapshot()
    next(snapshot)
    queries.append(for_sqlite(snapshot.send([]).sql))  # the in-flight count
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for sql in queries:
            plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}",
                                                           {"since": "2026"}))
            for table in ("tasks", "deliveries", "attempts"):
                assert f"SCAN {table}" not in plan, (sql, plan)
