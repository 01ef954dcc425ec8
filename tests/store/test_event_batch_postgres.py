"""On PostgreSQL too, events recorded a batch at a time (store/postgres/event_batch.py) come out
exactly as recorded one by one; a duplicate or an unknown task refuses the batch, which the
group-commit loop then runs one by one (tests/store/test_event_batch.py runs events through the
store on both databases)."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from store import EventIn, NewDestination, NewTask, Observation, TaskNotFound
from store.plans.event_batch import AlreadyStored
from store.plans.tasks import insert_task
from store.postgres.driver import drive
from store.postgres.event_batch import PgRecordEvents
from store.postgres.types import use_store_types
from tests.databases import fresh_postgres
from tests.store.test_event_batch import NOTIFY, TASKS

RUNS = itertools.count()
HOOK = NewDestination("webhook", "sealed", "http://127.0.0.1/…", "route")


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_postgres() as url:
        yield url


def random_steps(rng: random.Random) -> list[tuple[str, Observation, bool]]:
    """A sequence of events as tests/store/test_event_batch.py's EVENTS draws them."""
    return [
        (rng.choice(TASKS), Observation(
            status=rng.choice([None, "queued", "running", "succeeded", "failed", "cancelled"]),
            progress=rng.choice([None, rng.randint(-5, 120)]),
            video_url=rng.choice([None, "https://v/1.mp4"]), error=rng.choice([None, "boom"]),
        ), rng.random() < 0.5)
        for _ in range(rng.randint(1, 12))
    ]


def comparable(outcome: Any, prefix: str) -> tuple[Any, ...]:
    moving = ("created_at", "updated_at", "last_event_at")  # clock readings
    task = {k: v for k, v in outcome.task.items() if k not in moving}
    task["id"] = task["id"].removeprefix(prefix)
    return outcome.recorded, outcome.changed, outcome.notices_queued, outcome.slot_freed, task


async def snapshot(conn: asyncpg.Connection, prefix: str) -> list[list[tuple[Any, ...]]]:
    like = prefix + "%"
    queries = [
        "SELECT id, status, progress, video_url, error, provider_task_id, submit_state FROM tasks"
        " WHERE id LIKE $1",
        "SELECT task_id, dedupe_key, source, status, progress, payload FROM events"
        " WHERE task_id LIKE $1",
        "SELECT task_id, state, status FROM deliveries WHERE task_id LIKE $1",
    ]
    found = []
    for sql in queries:
        rows = [tuple(str(v).removeprefix(prefix) if isinstance(v, str) else v for v in row)
                for row in await conn.fetch(sql + " ORDER BY 1, 2", like)]
        found.append(rows)
    return found


async def one_run(url: str, steps: list[Any]) -> None:
    run = next(RUNS)
    one, many = f"o{run}_", f"m{run}_"
    kind = PgRecordEvents(NOTIFY)
    conn = await asyncpg.connect(url)
    await use_store_types(conn)  # as the store's pool does
    try:
        async with conn.transaction():
            for prefix in (one, many):
                for task_id in TASKS:
                    new = NewTask(prefix + task_id, "piapi", "Qubico/skyreels", {},
                                  destinations=(HOOK,))
                    await drive(conn, insert_task(new))

        def items(prefix: str) -> list[tuple[str, EventIn]]:
            return [(prefix + task_id, EventIn(f"k{i}", "callback", seen, "st", f'{{"n":{i}}}',
                                               f"p-{task_id}", poll))
                    for i, (task_id, seen, poll) in enumerate(steps)]

        async with conn.transaction():
            singles = [await kind.run_one(conn, item) for item in items(one)]
        async with conn.transaction():
            together = await kind.run_many(conn, items(many))
        assert [comparable(o, many) for o in together] == [comparable(o, one) for o in singles]
        assert await snapshot(conn, many) == await snapshot(conn, one)
    finally:
        await conn.close()


async def test_a_batch_ends_as_the_same_events_one_by_one(pg_url: str) -> None:
    rng = random.Random(20261206)  # seeded: the same 40 sequences every run
    for _ in range(40):
        await one_run(pg_url, random_steps(rng))


async def test_a_duplicate_or_an_unknown_task_refuses_the_batch_alone(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    await use_store_types(conn)  # as the store's pool does
    try:
        async with conn.transaction():
            await drive(conn, insert_task(NewTask("dup_a", "piapi", "m", {})))
        event = EventIn("same", "callback", Observation("running", 10))
        kind = PgRecordEvents(NOTIFY)
        with pytest.raises(AlreadyStored):
            async with conn.transaction():
                await kind.run_many(conn, [("dup_a", event), ("dup_a", event)])
        with pytest.raises(TaskNotFound):
            async with conn.transaction():
                await kind.run_many(conn, [("dup_a", event), ("dup_nope", event)])
        async with conn.transaction():
            await kind.run_many(conn, [("dup_a", event)])
        later = EventIn("later", "callback", Observation("running", 20))
        with pytest.raises(AlreadyStored):  # `event` was stored by the batch before
            async with conn.transaction():
                await kind.run_many(conn, [("dup_a", later), ("dup_a", event)])
        assert [e["dedupe_key"] for e in await conn.fetch(
            "SELECT dedupe_key FROM events WHERE task_id = 'dup_a'")] == ["same"]
    finally:
        await conn.close()
