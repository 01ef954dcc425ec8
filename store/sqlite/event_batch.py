"""Events recorded a batch at a time: one read of the tasks, one executemany of the inserts, one
of the task updates, for every event the writer took together.

The outcome of each event is what `store.plans.tasks.insert_event` would give one after another
in the same transaction. Where that cannot be decided without the database's answer (an event
stored already, or a task that is not there), `record_many` raises and the writer runs the batch
again job by job, each event through `insert_event` in its own savepoint.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from store.errors import TaskNotFound
from store.models import EventIn, EventOutcome, iso_from_epoch
from store.plans.tasks import (
    INSERT_EVENT,
    UPDATE_STATE,
    UPDATE_TIMES,
    event_row,
    insert_event,
    notice_delay,
    only_times_change,
    queue_deliveries,
    saved_state,
    state_of,
)
from store.sql import for_sqlite
from store.sqlite.driver import as_dicts, result_of
from store.states import advance, is_terminal

Item = tuple[str, EventIn]  # task id, event


class AlreadyStored(Exception):
    """An event of the batch is stored already (or is a withdrawal): only the one-by-one path
    can say what becomes of it."""


@dataclass(frozen=True)
class RecordEvents:
    """The writer's batched job for recording events (`store.writer.Batched`)."""

    notify_on: frozenset[str]
    video_wait: float | None = None

    def run_one(self, conn: sqlite3.Connection, item: Item) -> EventOutcome:
        """One event, on its own."""
        task_id, event = item
        return result_of(conn, insert_event(task_id, event, self.notify_on, self.video_wait))

    def run_many(self, conn: sqlite3.Connection, items: list[Item]) -> list[EventOutcome]:
        """Every event of the batch, in order, with a few statements."""
        if any(event.only_if_unsent for _, event in items):
            raise AlreadyStored("a withdrawal decides in the database: one by one")
        tasks = _tasks(conn, [task_id for task_id, _ in items])
        as_read = dict(tasks)
        at = time.time()
        now = iso_from_epoch(at)
        inserts: list[dict[str, Any]] = []
        moved: set[str] = set()
        notices: list[tuple[int, str, str, float]] = []  # outcome index, task id, state, delay
        outcomes = []
        for task_id, event in items:
            task = tasks[task_id]
            before = state_of(task)
            after = advance(before, event.seen)
            if event.only_if_changes and after == before:
                outcomes.append(EventOutcome(recorded=False, changed=False, task=task))
                continue
            inserts.append(event_row(task_id, event, now))
            if is_terminal(before.status):
                outcomes.append(EventOutcome(recorded=True, changed=False, task=task))
                continue
            saved = saved_state(task, after, event, now, at, video_wait=self.video_wait)
            tasks[task_id] = task | saved
            moved.add(task_id)
            status_moved = after.status != before.status
            if status_moved:
                delay = notice_delay(task, saved, self.video_wait)
                notices.append((len(outcomes), task_id, after.status, delay))
            outcomes.append(EventOutcome(
                recorded=True, changed=after != before, task=tasks[task_id],
                slot_freed=status_moved and is_terminal(after.status),
            ))
        stored = conn.executemany(for_sqlite(INSERT_EVENT), inserts) if inserts else None
        if stored is not None and stored.rowcount != len(inserts):
            raise AlreadyStored("an event of the batch is a duplicate")
        clocks = {task for task in moved if only_times_change(as_read[task], tasks[task])}
        conn.executemany(for_sqlite(UPDATE_TIMES), [tasks[task_id] for task_id in clocks])
        conn.executemany(for_sqlite(UPDATE_STATE), [tasks[task_id] for task_id in moved - clocks])
        for index, task_id, state, delay in notices:
            own = state in self.notify_on
            queued = result_of(conn, queue_deliveries(tasks[task_id], state, delay, own=own))
            outcomes[index] = outcomes[index]._replace(notices_queued=queued)
        return outcomes


def _tasks(conn: sqlite3.Connection, task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The rows of these tasks by id; TaskNotFound if one is missing."""
    unique = list(dict.fromkeys(task_ids))
    marks = ",".join("?" * len(unique))
    cursor = conn.execute(f"SELECT * FROM tasks WHERE id IN ({marks})", unique)
    found = {row["id"]: row for row in as_dicts(cursor)}
    if len(found) != len(unique):
        raise TaskNotFound(next(task_id for task_id in unique if task_id not in found))
    return found
