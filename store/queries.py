"""SQL run inside the reader or writer threads. Each function takes a connection."""

from __future__ import annotations

import json
import operator
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from store.cancel_unsent import withdraw_unsent
from store.errors import IdempotencyConflict, TaskNotFound
from store.models import EventIn, EventOutcome, NewTask, utc_now_iso
from store.states import TERMINAL_SQL, TaskState, advance, clamp_progress, is_terminal


def fetch_task(conn: sqlite3.Connection, task_id: str) -> dict[str, Any]:
    """The task row as a dict; TaskNotFound if there is none."""
    row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    if row is None:
        raise TaskNotFound(task_id)
    return dict(row)


def insert_task(conn: sqlite3.Connection, new: NewTask) -> tuple[dict[str, Any], bool]:
    """Record a new task, or return the earlier one with the same Idempotency-Key."""
    if new.idempotency_key is not None:
        earlier = conn.execute(
            "SELECT * FROM tasks WHERE idempotency_key = ?", (new.idempotency_key,)
        ).fetchone()
        if earlier is not None:
            if earlier["request_fingerprint"] != new.request_fingerprint:
                raise IdempotencyConflict(new.idempotency_key)
            return dict(earlier), False
    now = utc_now_iso()
    conn.execute(
        "INSERT INTO tasks (id, provider, model, status, progress, cost_usd, created_at,"
        " updated_at, metadata, request, idempotency_key, request_fingerprint,"
        " callback_secret_hash, deadline_at, last_event_at)"
        " VALUES (?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.id,
            new.provider,
            new.model,
            new.cost_usd,
            now,
            now,
            json.dumps(new.metadata) if new.metadata is not None else None,
            json.dumps(new.request),
            new.idempotency_key,
            new.request_fingerprint,
            new.callback_secret_hash,
            new.deadline_at,
            time.time(),
        ),
    )
    conn.executemany(
        "INSERT INTO destinations (task_id, channel, target, label, route_key)"
        " VALUES (?, ?, ?, ?, ?)",
        [(new.id, d.channel, d.target, d.label, d.route_key) for d in new.destinations],
    )
    if new.notify_queued:
        queue_deliveries(conn, new.id, "queued")
    return fetch_task(conn, new.id), True


def insert_event(
    conn: sqlite3.Connection, task_id: str, event: EventIn, notify_on: frozenset[str]
) -> EventOutcome:
    """Record an event once, move the task, and queue the notices the move causes.

    `notify_on` (from REELHOOK_NOTIFY_ON) is the one place that decides which states notify.
    """
    if event.only_if_unsent and not withdraw_unsent(conn, task_id):
        return EventOutcome(recorded=False, changed=False, task=fetch_task(conn, task_id))
    task = fetch_task(conn, task_id)
    before = state_of(task)
    after = advance(before, event.seen)
    if event.only_if_changes and after == before:
        return EventOutcome(recorded=False, changed=False, task=task)
    now = utc_now_iso()
    cursor = conn.execute(INSERT_EVENT, event_row(task_id, event, now))
    if cursor.rowcount == 0:
        return EventOutcome(recorded=False, changed=False, task=task)
    if is_terminal(before.status):
        # A late event is kept in the history but leaves a finished task exactly as it was.
        return EventOutcome(recorded=True, changed=False, task=task)
    saved = _save_state(conn, task, after, event, now)
    moved = after.status != before.status
    notices = 0
    if moved and after.status in notify_on:
        notices = queue_deliveries(conn, task_id, after.status)
    # The row as it now stands, without reading it again: only the saved columns changed.
    return EventOutcome(
        recorded=True,
        changed=after != before,
        task=task | saved,
        notices_queued=notices,
        slot_freed=moved and is_terminal(after.status),
    )


INSERT_EVENT = (
    "INSERT OR IGNORE INTO events (task_id, dedupe_key, source, provider_status, status,"
    " progress, payload, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_STATE = (
    "UPDATE tasks SET status = :status, progress = :progress, video_url = :video_url,"
    " error = :error, updated_at = :updated_at, provider_task_id = :provider_task_id,"
    " submit_state = :submit_state, last_event_at = :last_event_at,"
    # A request kept sealed for a resend is dropped once the provider has it, or it is over.
    " held_request = CASE WHEN :provider_task_id IS NOT NULL"
    f" OR :status IN {TERMINAL_SQL} THEN NULL ELSE held_request END"
    " WHERE id = :id"
)
# What UPDATE_STATE amounts to when an event moves nothing but the clocks (most progress
# callbacks): it leaves the indexed columns alone, so no index entry is rewritten.
UPDATE_TIMES = (
    "UPDATE tasks SET updated_at = :updated_at, last_event_at = :last_event_at WHERE id = :id"
)
_STATE_COLUMNS = operator.itemgetter(
    "status", "progress", "video_url", "error", "provider_task_id", "submit_state"
)


def only_times_change(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """True when UPDATE_TIMES writes `after` exactly as UPDATE_STATE would over `before`."""
    return before["held_request"] is None and _STATE_COLUMNS(before) == _STATE_COLUMNS(after)


def event_row(task_id: str, event: EventIn, now: str) -> tuple[Any, ...]:
    """The parameters of INSERT_EVENT for `event`."""
    progress = event.seen.progress
    return (
        task_id, event.dedupe_key, event.source, event.provider_status, event.seen.status,
        None if progress is None else clamp_progress(progress), event.payload, now,
    )


def queue_deliveries(conn: sqlite3.Connection, task_id: str, state: str) -> int:
    """One pending delivery per live destination of the task for `state`, never two."""
    now = utc_now_iso()
    cursor = conn.execute(
        "INSERT OR IGNORE INTO deliveries (task_id, state, destination_id, status, attempts,"
        " next_attempt_at, created_at, updated_at)"
        " SELECT ?, ?, id, 'pending', 0, ?, ?, ? FROM destinations"
        " WHERE task_id = ? AND disabled_reason IS NULL",
        (task_id, state, time.time(), now, now, task_id),
    )
    return cursor.rowcount


def state_of(task: dict[str, Any]) -> TaskState:
    return TaskState(
        status=task["status"],
        progress=task["progress"] or 0,
        video_url=task["video_url"],
        error=task["error"],
    )


def _save_state(
    conn: sqlite3.Connection, task: dict[str, Any], after: TaskState, event: EventIn, now: str
) -> dict[str, Any]:
    saved = saved_state(task, after, event, now)
    conn.execute(UPDATE_STATE, saved | {"id": task["id"]})
    return saved


def saved_state(
    task: dict[str, Any], after: TaskState, event: EventIn, now: str, at: float | None = None
) -> dict[str, Any]:
    """The task columns an event that moves the task to `after` sets (UPDATE_STATE's values);
    `at` is the Unix time of `now` (read here when not given)."""
    provider_task_id = task["provider_task_id"] or event.provider_task_id
    return {
        "status": after.status,
        "progress": after.progress,
        "video_url": after.video_url,
        "error": after.error,
        "updated_at": now,
        "provider_task_id": provider_task_id,
        "submit_state": "sent" if provider_task_id else task["submit_state"],
        "last_event_at": time.time() if at is None else at,
    }


def select_tasks(
    conn: sqlite3.Connection,
    *,
    status: str | None,
    provider: str | None,
    limit: int,
    before_id: str | None,
) -> list[dict[str, Any]]:
    """Tasks newest first, optionally filtered, starting after the cursor id."""
    where, params = page_filter([("status", status), ("provider", provider)], "id", before_id)
    rows = conn.execute(
        f"SELECT * FROM tasks {where} ORDER BY id DESC LIMIT ?", (*params, limit)
    ).fetchall()
    return [dict(row) for row in rows]


def page_filter(
    equal: Sequence[tuple[str, Any]], id_column: str, before_id: Any
) -> tuple[str, list[Any]]:
    """A WHERE clause (or "") and its parameters: each column equal to its value where the value
    is given, and `id_column` below the cursor where there is one."""
    clauses = [f"{column} = ?" for column, value in equal if value is not None]
    params = [value for _, value in equal if value is not None]
    if before_id is not None:
        clauses.append(f"{id_column} < ?")
        params.append(before_id)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def select_events(conn: sqlite3.Connection, task_id: str) -> list[dict[str, Any]]:
    """Every recorded event of a task, oldest first."""
    fetch_task(conn, task_id)
    rows = conn.execute(
        "SELECT id, source, provider_status, status, progress, received_at, payload"
        " FROM events WHERE task_id = ? ORDER BY id",
        (task_id,),
    ).fetchall()
    return [dict(row) for row in rows]
