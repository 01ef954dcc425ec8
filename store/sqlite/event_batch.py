"""Events recorded a batch at a time on SQLite: one read of the tasks, one executemany of the
inserts, one of the task updates, for every event the writer took together. What each event
does is decided once for both databases (store/plans/event_batch.py); this writes it."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from store.errors import TaskNotFound
from store.models import EventOutcome
from store.plans.event_batch import AlreadyStored, Item, decide, queue_notices
from store.plans.tasks import INSERT_EVENT, UPDATE_STATE, UPDATE_TIMES, insert_event
from store.sql import for_sqlite
from store.sqlite.driver import as_dicts, result_of

__all__ = ["AlreadyStored", "RecordEvents"]


@dataclass(frozen=True)
class RecordEvents:
    """The writer's batched job for recording events (`store.sqlite.writer.Batched`)."""

    notify_on: frozenset[str]
    video_wait: float | None = None

    def run_one(self, conn: sqlite3.Connection, item: Item) -> EventOutcome:
        """One event, on its own."""
        task_id, event = item
        return result_of(conn, insert_event(task_id, event, self.notify_on, self.video_wait))

    def run_many(self, conn: sqlite3.Connection, items: list[Item]) -> list[EventOutcome]:
        """Every event of the batch, in order, with a few statements."""
        found = _tasks(conn, [task_id for task_id, _ in items])
        decision = decide(found, items, time.time(), self.video_wait)
        if decision.inserts:
            stored = conn.executemany(for_sqlite(INSERT_EVENT), decision.inserts)
            if stored.rowcount != len(decision.inserts):
                raise AlreadyStored("an event of the batch is a duplicate")
        conn.executemany(for_sqlite(UPDATE_TIMES), decision.times)
        conn.executemany(for_sqlite(UPDATE_STATE), decision.states)
        return result_of(conn, queue_notices(decision, self.notify_on))


def _tasks(conn: sqlite3.Connection, task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The rows of these tasks by id; TaskNotFound if one is missing."""
    unique = list(dict.fromkeys(task_ids))
    marks = ",".join("?" * len(unique))
    cursor = conn.execute(f"SELECT * FROM tasks WHERE id IN ({marks})", unique)
    found = {row["id"]: row for row in as_dicts(cursor)}
    if len(found) != len(unique):
        raise TaskNotFound(next(task_id for task_id in unique if task_id not in found))
    return found
