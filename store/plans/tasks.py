"""Tasks and events: record a task, record an event once, move the task, queue its notices."""

from __future__ import annotations

import json
import math
import operator
import time
from collections.abc import Mapping, Sequence
from typing import Any

from store.announce import topics_of
from store.errors import IdempotencyConflict, TaskNotFound
from store.interface import DELIVERIES, TASKS
from store.models import (
    EventIn,
    EventOutcome,
    NewTask,
    TaskSearch,
    iso_from_epoch,
    metadata_values,
)
from store.plans import destinations
from store.rows import EventRow, TaskRow, as_task
from store.sql import Announce, Dialects, Plan, Sql, count, many, row, rows, value, where
from store.states import (
    SUCCEEDED,
    TERMINAL_SQL,
    VIDEO_OFF,
    VIDEO_PENDING,
    TaskState,
    advance,
    clamp_progress,
    is_terminal,
)

TASK = "SELECT * FROM tasks WHERE id = :id"
INSERT_TASK = (
    "INSERT INTO tasks (id, provider, model, status, progress, cost_usd, created_at,"
    " updated_at, metadata, request, idempotency_key, request_fingerprint,"
    " callback_secret_hash, deadline_at, last_event_at)"
    " VALUES (:id, :provider, :model, 'queued', 0, :cost_usd, :now, :now, :metadata, :request,"
    " :idempotency_key, :request_fingerprint, :callback_secret_hash, :deadline_at, :at)"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
INSERT_DESTINATION = (
    "INSERT INTO destinations (task_id, channel, target, label, route_key)"
    " VALUES (:task_id, :channel, :target, :label, :route_key)"
)
INSERT_EVENT = (
    "INSERT INTO events (task_id, dedupe_key, source, provider_status, status, progress,"
    " payload, received_at) VALUES (:task_id, :dedupe_key, :source, :provider_status,"
    " :status, :progress, :payload, :received_at)"
    " ON CONFLICT (task_id, dedupe_key) DO NOTHING"
)
UPDATE_STATE = (
    "UPDATE tasks SET status = :status, progress = :progress, video_url = :video_url,"
    " error = :error, updated_at = :updated_at, provider_task_id = :provider_task_id,"
    " submit_state = :submit_state, last_event_at = :last_event_at,"
    " video_status = :video_status, video_next_at = :video_next_at,"
    " video_expires_at = :video_expires_at,"
    # A request kept sealed for a resend is dropped once the provider has it, or it is over.
    " held_request = CASE WHEN CAST(:provider_task_id AS TEXT) IS NOT NULL"
    f" OR CAST(:status AS TEXT) IN {TERMINAL_SQL} THEN NULL ELSE held_request END"
    " WHERE id = :id"
)
# What UPDATE_STATE amounts to when an event moves nothing but the clocks (most progress
# callbacks): it leaves the indexed columns alone, so no index entry is rewritten.
UPDATE_TIMES = (
    "UPDATE tasks SET updated_at = :updated_at, last_event_at = :last_event_at WHERE id = :id"
)
QUEUE_DELIVERIES = (
    "INSERT INTO deliveries (task_id, state, destination_id, status, attempts,"
    " next_attempt_at, created_at, updated_at)"
    " SELECT :task_id, :state, id, 'pending', 0, :due, :now, :now FROM destinations"
    " WHERE task_id = :task_id AND disabled_reason IS NULL"
    " ON CONFLICT (destination_id, task_id, state) DO NOTHING"
)
INSERT_METADATA = (
    "INSERT INTO task_metadata (task_id, key, value) VALUES (:task_id, :key, :value)"
)
WITHDRAW_UNSENT = (
    "UPDATE tasks SET submit_state = 'withdrawn', held_request = NULL, submit_after = NULL"
    " WHERE id = :id AND status = 'queued' AND submit_state = 'pending'"
)
_STATE_COLUMNS = operator.itemgetter(
    "status", "progress", "video_url", "error", "provider_task_id", "submit_state",
    "video_status", "video_next_at", "video_expires_at",
)


def fetch_task(task_id: str, *, lock: bool = False) -> Plan[TaskRow]:
    """The task row (locked until the commit with `lock`); TaskNotFound if there is none."""
    task = yield row(TASK + (" FOR UPDATE" if lock else ""), id=task_id)
    if task is None:
        raise TaskNotFound(task_id)
    return task  # type: ignore[no-any-return]


def insert_task(new: NewTask) -> Plan[tuple[TaskRow, bool]]:
    """Record a new task, or return the earlier one with the same Idempotency-Key (which may
    have been recorded by another process a moment ago: the unique index decides)."""
    at = time.time()  # one clock for the row's ISO and Unix times
    inserted = yield value(
        INSERT_TASK, id=new.id, provider=new.provider, model=new.model, cost_usd=new.cost_usd,
        now=iso_from_epoch(at), at=at,
        metadata=json.dumps(new.metadata) if new.metadata is not None else None,
        request=json.dumps(new.request), idempotency_key=new.idempotency_key,
        request_fingerprint=new.request_fingerprint,
        callback_secret_hash=new.callback_secret_hash, deadline_at=new.deadline_at,
    )
    if inserted is None:
        earlier = yield row(
            "SELECT * FROM tasks WHERE idempotency_key = :key", key=new.idempotency_key
        )
        if earlier is None or earlier["request_fingerprint"] != new.request_fingerprint:
            raise IdempotencyConflict(new.idempotency_key or "")
        return as_task(earlier), False
    if searchable := metadata_values(new.metadata):
        yield many(INSERT_METADATA, ({"task_id": new.id, "key": key, "value": text}
                                     for key, text in searchable))
    if new.destinations:
        yield many(INSERT_DESTINATION, (
            {"task_id": new.id, "channel": d.channel, "target": d.target, "label": d.label,
             "route_key": d.route_key}
            for d in new.destinations
        ))
    task = yield from fetch_task(new.id)
    if (yield from queue_deliveries(task, "queued", own=new.notify_queued)):
        yield Announce(DELIVERIES)
    yield Announce(TASKS, new.id)
    return task, True


def insert_event(
    task_id: str, event: EventIn, notify_on: frozenset[str], video_wait: float | None = None
) -> Plan[EventOutcome]:
    """Record an event once, move the task, and queue the notices the move causes.

    `notify_on` (from REELHOOK_NOTIFY_ON) is the one place that decides which states notify.
    With `video_wait` (seconds; None: videos are not kept) a task that succeeds with a video has
    its copy queued, and its notices wait for the copy that long at most.
    The plan does not announce: `record_event` does, and SQLite's batch (store/sqlite/batch.py)
    announces from the outcomes it returns.
    """
    if event.only_if_unsent and not (yield count(WITHDRAW_UNSENT, id=task_id)):
        task = yield from fetch_task(task_id)
        return EventOutcome(recorded=False, changed=False, task=task)
    task = yield from fetch_task(task_id, lock=True)
    before = state_of(task)
    after = advance(before, event.seen)
    if event.only_if_changes and after == before:
        return EventOutcome(recorded=False, changed=False, task=task)
    at = time.time()  # one clock for the event's time and the task's
    now = iso_from_epoch(at)
    if not (yield count(INSERT_EVENT, **event_row(task_id, event, now))):
        return EventOutcome(recorded=False, changed=False, task=task)
    if is_terminal(before.status):
        # A late event is kept in the history but leaves a finished task exactly as it was.
        return EventOutcome(recorded=True, changed=False, task=task)
    saved = saved_state(task, after, event, now, at, video_wait=video_wait)
    yield count(UPDATE_STATE, **saved, id=task["id"])
    moved = after.status != before.status
    notices = 0
    if moved:
        delay = notice_delay(task, saved, video_wait)
        notices = yield from queue_deliveries(
            task, after.status, delay, own=after.status in notify_on
        )
    # The row as it now stands, without reading it again: only the saved columns changed.
    return EventOutcome(
        recorded=True, changed=after != before, task=as_task({**task, **saved}),
        notices_queued=notices,
        slot_freed=moved and is_terminal(after.status),
    )


def record_event(
    task_id: str, event: EventIn, notify_on: frozenset[str], video_wait: float | None = None
) -> Plan[EventOutcome]:
    """`insert_event`, announcing what its outcome changed."""
    outcome = yield from insert_event(task_id, event, notify_on, video_wait)
    for topic, payload in topics_of(outcome):
        yield Announce(topic, payload)
    return outcome


def queue_deliveries(
    task: Mapping[str, Any], state: str, delay: float = 0.0, *, own: bool = True
) -> Plan[int]:
    """The notices of `task` reaching `state`, due in `delay` seconds, never two of one: one per
    live destination of the task's own (with `own`: the state is one of REELHOOK_NOTIFY_ON) and
    one per registered destination that wants it (store/plans/destinations.py), unless the task
    has its own destination to that address. Returns how many were queued."""
    clock = time.time()
    due, now, queued = clock + delay, iso_from_epoch(clock), 0
    if own:
        queued = yield count(QUEUE_DELIVERIES, task_id=task["id"], state=state, due=due, now=now)
    queued += yield from destinations.queue_registered(task, state, due, now, has_own=queued > 0)
    return int(queued)


def notice_delay(
    task: Mapping[str, Any], saved: Mapping[str, Any], video_wait: float | None
) -> float:
    """How long the notices of this move wait: for a video copy queued by it, `video_wait`
    at most (the copy brings them forward once it is kept or failed)."""
    newly_pending = saved["video_status"] == VIDEO_PENDING and task["video_status"] is None
    return float(video_wait or 0.0) if newly_pending else 0.0


def event_row(task_id: str, event: EventIn, now: str) -> dict[str, Any]:
    """The parameters of INSERT_EVENT for `event`."""
    progress = event.seen.progress
    return {
        "task_id": task_id, "dedupe_key": event.dedupe_key, "source": event.source,
        "provider_status": event.provider_status, "status": event.seen.status,
        "progress": None if progress is None else clamp_progress(progress),
        # No payload is NULL, not "" (no JSON text: PostgreSQL's json column refuses it).
        "payload": event.payload or None, "received_at": now,
    }


def state_of(task: Mapping[str, Any]) -> TaskState:
    """The parts of a task row that events change."""
    return TaskState(
        status=task["status"], progress=task["progress"] or 0,
        video_url=task["video_url"], error=task["error"],
    )


def saved_state(
    task: Mapping[str, Any],
    after: TaskState,
    event: EventIn,
    now: str,
    at: float,
    *,
    video_wait: float | None = None,
) -> dict[str, Any]:
    """The task columns an event that moves the task to `after` sets (UPDATE_STATE's values);
    `at` is the Unix time of `now` (one clock for both)."""
    provider_task_id = task["provider_task_id"] or event.provider_task_id
    video_status, video_next_at = task["video_status"], task["video_next_at"]
    if video_status is None and after.status == SUCCEEDED and after.video_url:
        video_status = VIDEO_OFF if video_wait is None else VIDEO_PENDING
        video_next_at = None if video_wait is None else at
    return {
        "status": after.status,
        "progress": after.progress,
        "video_url": after.video_url,
        "error": after.error,
        "updated_at": now,
        "provider_task_id": provider_task_id,
        "submit_state": "sent" if provider_task_id else task["submit_state"],
        "last_event_at": at,
        "video_status": video_status,
        "video_next_at": video_next_at,
        "video_expires_at": moment_or_none(event.seen.video_expires_at) or task["video_expires_at"],
    }


def moment_or_none(seconds: float | None) -> float | None:
    """A Unix time as given, or None for one that is not a real moment (NaN, infinite, <= 0)."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    return float(seconds)


def only_times_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """True when UPDATE_TIMES writes `after` exactly as UPDATE_STATE would over `before`."""
    return before["held_request"] is None and _STATE_COLUMNS(before) == _STATE_COLUMNS(after)


def select_tasks(
    *,
    status: str | None,
    provider: str | None,
    limit: int,
    before_id: str | None,
    search: TaskSearch | None = None,
) -> Plan[list[TaskRow]]:
    """Tasks newest first, optionally filtered, starting after the cursor id."""
    clause, params = where([("status", status), ("provider", provider)], "id", before_id)
    base = f"SELECT * FROM tasks {clause}"
    sql: Sql = base
    if search is not None and not search.empty:
        sqlite, postgres, more = search_clauses(search)
        joiner = " AND " if clause else " WHERE "
        sql = Dialects(base + joiner + sqlite, base + joiner + postgres)
        params |= more
    found = yield rows(_ordered(sql), **params, limit=limit)
    return found  # type: ignore[no-any-return]


def _ordered(sql: Sql) -> Sql:
    tail = " ORDER BY id DESC LIMIT :limit"
    if isinstance(sql, Dialects):
        return Dialects(sql.sqlite + tail, sql.postgres + tail)
    return sql + tail


def search_clauses(search: TaskSearch) -> tuple[str, str, dict[str, Any]]:
    """The search as SQL conditions for SQLite and for PostgreSQL (JSON is read differently),
    and their parameters."""
    sqlite: list[str] = []
    postgres: list[str] = []
    params: dict[str, Any] = {}
    for index, (key, wanted) in enumerate(search.metadata):
        params[f"mkey{index}"], params[f"mval{index}"] = key, wanted
        found = (f"id IN (SELECT task_id FROM task_metadata WHERE key = :mkey{index}"
                 f" AND value = :mval{index})")
        sqlite.append(found)
        postgres.append(found)
    # Each word of the text, in any case and any order; SQLite's own LOWER folds only ASCII.
    for index, word in enumerate((search.text or "").split()):
        params[f"word{index}"] = "%" + word.lower().replace("\\", "\\\\").replace(
            "%", "\\%").replace("_", "\\_") + "%"
        sqlite.append(f"unicode_lower(json_extract(request, '$.prompt')) LIKE :word{index}"
                      " ESCAPE '\\'")
        postgres.append(f"LOWER(CAST(request AS jsonb) ->> 'prompt') LIKE :word{index}"
                        " ESCAPE '\\'")
    for name, compared, moment in (("after", ">=", search.created_after),
                                   ("before", "<", search.created_before)):
        if moment is not None:
            params[name] = moment
            sqlite.append(f"created_at {compared} :{name}")
            postgres.append(f"created_at {compared} :{name}")
    return " AND ".join(sqlite), " AND ".join(postgres), params


_EVENT_COLUMNS = "id, source, provider_status, status, progress, received_at, payload"


def select_events(
    task_id: str, after_id: int | None = None, limit: int | None = None, newest: bool = False
) -> Plan[list[EventRow]]:
    """A task's recorded events, oldest first: after event `after_id`, at most `limit` (with
    `newest`, the last `limit` of them)."""
    yield from fetch_task(task_id)
    after = "" if after_id is None else " AND id > :after_id"
    order = "DESC" if newest else ""
    bound = "" if limit is None else " LIMIT :limit"
    found: list[EventRow] = yield rows(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE task_id = :task_id{after}"
        f" ORDER BY id {order}{bound}",
        task_id=task_id, after_id=after_id, limit=limit,
    )
    return found[::-1] if newest else found


def select_by_ids(ids: Sequence[str]) -> Plan[list[TaskRow]]:
    """The tasks with these ids (those that exist)."""
    found = yield rows("SELECT * FROM tasks WHERE id = ANY(:ids)", ids=list(ids))
    return found  # type: ignore[no-any-return]
