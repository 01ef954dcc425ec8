"""Events recorded a batch at a time on PostgreSQL: the batch's tasks read and locked in one
statement, its events inserted through arrays (`unnest`) in one, the task updates pipelined, and
one NOTIFY statement: a handful of round trips for the batch, not five or six per event. What
each event does is decided once for both databases (store/plans/event_batch.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from store.announce import topics_of
from store.errors import TaskNotFound
from store.models import EventOutcome
from store.plans.event_batch import AlreadyStored, Item, decide, queue_notices
from store.plans.tasks import UPDATE_STATE, UPDATE_TIMES, record_event
from store.postgres.driver import CHANNEL_PREFIX, drive, with_origin
from store.sql import for_postgres

# Locked in the order of their ids, without waiting: a task row another session holds sends
# the batch at once to the one-by-one path, where only that event waits (lock_timeout at most)
# instead of the batch waiting first and each event again after. A deadlock with the locks of
# earlier writes in the same transaction is retried write by write by the group-commit loop.
LOCK_TASKS = "SELECT * FROM tasks WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE NOWAIT"
EVENT_COLUMNS = ("task_id", "dedupe_key", "source", "provider_status", "status", "progress",
                 "payload", "received_at")
INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT * FROM unnest($1::text[],"
    " $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::jsonb[], $8::timestamptz[])"
    " ON CONFLICT (task_id, dedupe_key) DO NOTHING RETURNING 1"
)
NOTIFY_ALL = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)"


@dataclass(frozen=True)
class PgRecordEvents:
    """The group-commit loop's batched job for recording events (store/postgres/writer.py)."""

    notify_on: frozenset[str]
    video_wait: float | None = None

    async def run_one(self, conn: asyncpg.Connection, item: Item) -> EventOutcome:
        """One event, on its own (announcing what it changed)."""
        task_id, event = item
        return await drive(conn, record_event(task_id, event, self.notify_on, self.video_wait))

    async def run_many(self, conn: asyncpg.Connection, items: list[Item]) -> list[EventOutcome]:
        """Every event of the batch, in order, with a few statements."""
        found = await _locked_tasks(conn, [task_id for task_id, _ in items])
        decision = decide(found, items, time.time(), self.video_wait)
        if decision.inserts:
            columns = [[row[name] for row in decision.inserts] for name in EVENT_COLUMNS]
            stored = await conn.fetch(INSERT_EVENTS, *columns)
            if len(stored) != len(decision.inserts):
                raise AlreadyStored("an event of the batch is a duplicate")
        for sql, rows in ((UPDATE_TIMES, decision.times), (UPDATE_STATE, decision.states)):
            if rows:
                statement, names = for_postgres(sql)
                await conn.executemany(statement, [[row[name] for name in names] for row in rows])
        outcomes = await drive(conn, queue_notices(decision, self.notify_on))
        await _announce(conn, outcomes)
        return outcomes


async def _locked_tasks(conn: asyncpg.Connection, task_ids: list[str]) -> dict[str, Any]:
    """The rows of these tasks by id, locked until the commit; TaskNotFound if one is missing."""
    unique = list(dict.fromkeys(task_ids))
    found = {row["id"]: dict(row) for row in await conn.fetch(LOCK_TASKS, unique)}
    if len(found) != len(unique):
        raise TaskNotFound(next(task_id for task_id in unique if task_id not in found))
    return found


async def _announce(conn: asyncpg.Connection, outcomes: list[EventOutcome]) -> None:
    """NOTIFY what the outcomes changed, each topic and payload once, in one statement."""
    said = list(dict.fromkeys(pair for outcome in outcomes for pair in topics_of(outcome)))
    if said:
        await conn.execute(NOTIFY_ALL, [CHANNEL_PREFIX + topic for topic, _ in said],
                           [with_origin(conn, payload) for _, payload in said])
