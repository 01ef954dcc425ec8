"""Tasks and events on PostgreSQL: the same rules as store/queries.py, with row locks so that
processes sharing the database take turns on one task."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from store.announce import topics_of
from store.errors import IdempotencyConflict, TaskNotFound
from store.interface import DELIVERIES
from store.models import EventIn, EventOutcome, NewTask, utc_now_iso
from store.states import TERMINAL_SQL, TaskState, advance, clamp_progress, is_terminal

CHANNEL_PREFIX = "reelhook_"


async def announce(conn: asyncpg.Connection, topic: str, payload: str = "") -> None:
    """NOTIFY every listening process of `topic`; sent when the transaction commits."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL_PREFIX + topic, payload)


async def fetch_task(
    conn: asyncpg.Connection, task_id: str, *, lock: bool = False
) -> dict[str, Any]:
    """The task row as a dict (locked for this transaction with `lock`); TaskNotFound if none."""
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(f"SELECT * FROM tasks WHERE id = $1{suffix}", task_id)
    if row is None:
        raise TaskNotFound(task_id)
    return dict(row)


async def insert_task(conn: asyncpg.Connection, new: NewTask) -> tuple[dict[str, Any], bool]:
    """Record a new task, or return the earlier one with the same Idempotency-Key (which may
    have been recorded by another process a moment ago: the unique index decides)."""
    now = utc_now_iso()
    inserted = await conn.fetchval(
        "INSERT INTO tasks (id, provider, model, status, progress, cost_usd, created_at,"
        " updated_at, metadata, request, idempotency_key, request_fingerprint,"
        " callback_secret_hash, deadline_at, last_event_at)"
        " VALUES ($1, $2, $3, 'queued', 0, $4, $5, $5, $6, $7, $8, $9, $10, $11, $12)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        new.id, new.provider, new.model, new.cost_usd, now,
        json.dumps(new.metadata) if new.metadata is not None else None,
        json.dumps(new.request), new.idempotency_key, new.request_fingerprint,
        new.callback_secret_hash, new.deadline_at, time.time(),
    )
    if inserted is None:
        earlier = await conn.fetchrow(
            "SELECT * FROM tasks WHERE idempotency_key = $1", new.idempotency_key
        )
        if earlier is None or earlier["request_fingerprint"] != new.request_fingerprint:
            raise IdempotencyConflict(new.idempotency_key)
        return dict(earlier), False
    await conn.executemany(
        "INSERT INTO destinations (task_id, channel, target, label, route_key)"
        " VALUES ($1, $2, $3, $4, $5)",
        [(new.id, d.channel, d.target, d.label, d.route_key) for d in new.destinations],
    )
    if new.notify_queued and await queue_deliveries(conn, new.id, "queued"):
        await announce(conn, DELIVERIES, "")
    return await fetch_task(conn, new.id), True


async def insert_event(
    conn: asyncpg.Connection, task_id: str, event: EventIn, notify_on: frozenset[str]
) -> EventOutcome:
    """Record an event once, move the task, queue the notices the move causes and announce it
    (NOTIFY, delivered to every listening process when the transaction commits)."""
    if event.only_if_unsent and not await withdraw_unsent(conn, task_id):
        return EventOutcome(recorded=False, changed=False, task=await fetch_task(conn, task_id))
    task = await fetch_task(conn, task_id, lock=True)
    before = _state_of(task)
    after = advance(before, event.seen)
    if event.only_if_changes and after == before:
        return EventOutcome(recorded=False, changed=False, task=task)
    now = utc_now_iso()
    progress = event.seen.progress
    inserted = await conn.fetchval(
        "INSERT INTO events (task_id, dedupe_key, source, provider_status, status, progress,"
        " payload, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (task_id, dedupe_key) DO NOTHING RETURNING id",
        task_id, event.dedupe_key, event.source, event.provider_status, event.seen.status,
        None if progress is None else clamp_progress(progress), event.payload, now,
    )
    if inserted is None:
        return EventOutcome(recorded=False, changed=False, task=task)
    if is_terminal(before.status):
        # A late event is kept in the history but leaves a finished task exactly as it was.
        return EventOutcome(recorded=True, changed=False, task=task)
    saved = await _save_state(conn, task, after, event, now)
    moved = after.status != before.status
    notices = 0
    if moved and after.status in notify_on:
        notices = await queue_deliveries(conn, task_id, after.status)
    outcome = EventOutcome(
        recorded=True, changed=after != before, task=task | saved, notices_queued=notices,
        slot_freed=moved and is_terminal(after.status),
    )
    for topic, payload in topics_of(outcome):
        await announce(conn, topic, payload)
    return outcome


async def withdraw_unsent(conn: asyncpg.Connection, task_id: str) -> bool:
    """Mark a held, unsent task withdrawn; False when a send has begun (or it is not waiting)."""
    status = await conn.execute(
        "UPDATE tasks SET submit_state = 'withdrawn', held_request = NULL, submit_after = NULL"
        " WHERE id = $1 AND status = 'queued' AND submit_state = 'pending'", task_id,
    )
    return bool(status == "UPDATE 1")


async def queue_deliveries(conn: asyncpg.Connection, task_id: str, state: str) -> int:
    """One pending delivery per live destination of the task for `state`, never two; returns
    how many were queued."""
    now = utc_now_iso()
    status = await conn.execute(
        "INSERT INTO deliveries (task_id, state, destination_id, status, attempts,"
        " next_attempt_at, created_at, updated_at)"
        " SELECT $1, $2, id, 'pending', 0, $3, $4, $4 FROM destinations"
        " WHERE task_id = $1 AND disabled_reason IS NULL"
        " ON CONFLICT (destination_id, state) DO NOTHING",
        task_id, state, time.time(), now,
    )
    return int(status.split()[-1])


def _state_of(task: dict[str, Any]) -> TaskState:
    return TaskState(
        status=task["status"], progress=task["progress"] or 0,
        video_url=task["video_url"], error=task["error"],
    )


async def _save_state(
    conn: asyncpg.Connection, task: dict[str, Any], after: TaskState, event: EventIn, now: str
) -> dict[str, Any]:
    provider_task_id = task["provider_task_id"] or event.provider_task_id
    saved = {
        "status": after.status,
        "progress": after.progress,
        "video_url": after.video_url,
        "error": after.error,
        "updated_at": now,
        "provider_task_id": provider_task_id,
        "submit_state": "sent" if provider_task_id else task["submit_state"],
        "last_event_at": time.time(),
    }
    await conn.execute(
        "UPDATE tasks SET status = $1, progress = $2, video_url = $3, error = $4,"
        " updated_at = $5, provider_task_id = $6, submit_state = $7, last_event_at = $8,"
        # A request kept sealed for a resend is dropped once the provider has it, or it is over.
        " held_request = CASE WHEN $6::text IS NOT NULL"
        f" OR $1 IN {TERMINAL_SQL} THEN NULL ELSE held_request END"
        " WHERE id = $9",
        *saved.values(), task["id"],
    )
    return saved


def page_filter(
    equal: Sequence[tuple[str, Any]], id_column: str, before_id: Any
) -> tuple[str, list[Any]]:
    """A WHERE clause with $n parameters (or "") and its values: each column equal to its value
    where the value is given, and `id_column` below the cursor where there is one."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in equal:
        if value is not None:
            params.append(value)
            clauses.append(f"{column} = ${len(params)}")
    if before_id is not None:
        params.append(before_id)
        clauses.append(f"{id_column} < ${len(params)}")
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


async def select_tasks(
    conn: asyncpg.Connection,
    *,
    status: str | None,
    provider: str | None,
    limit: int,
    before_id: str | None,
) -> list[dict[str, Any]]:
    """Tasks newest first, optionally filtered, starting after the cursor id."""
    where, params = page_filter([("status", status), ("provider", provider)], "id", before_id)
    rows = await conn.fetch(
        f"SELECT * FROM tasks {where} ORDER BY id DESC LIMIT ${len(params) + 1}", *params, limit
    )
    return [dict(row) for row in rows]


async def select_events(conn: asyncpg.Connection, task_id: str) -> list[dict[str, Any]]:
    """Every recorded event of a task, oldest first."""
    await fetch_task(conn, task_id)
    rows = await conn.fetch(
        "SELECT id, source, provider_status, status, progress, received_at, payload"
        " FROM events WHERE task_id = $1 ORDER BY id",
        task_id,
    )
    return [dict(row) for row in rows]


async def select_by_ids(conn: asyncpg.Connection, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The tasks with these ids (those that exist), as dicts."""
    rows = await conn.fetch("SELECT * FROM tasks WHERE id = ANY($1)", list(ids))
    return [dict(row) for row in rows]
