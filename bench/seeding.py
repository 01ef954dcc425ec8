"""Filling a database with tasks and events through the store's own query functions.

Used by the growth benchmark: a million events over HTTP would take too long to set up, so they
go straight through `store.plans.tasks` (the same plans the writer thread runs), 100 events a task.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field

from bench.payload import Target, callback_body
from receiver.providers.http import compact
from receiver.services.secrets import SecretBox
from store import EventIn, NewTask, Observation
from store.models import new_task_id
from store.plans import tasks
from store.sqlite.driver import result_of
from store.sqlite.schema import connect, migrate

EVENTS_PER_TASK = 100
TRANSACTION = 10_000


@dataclass
class Seeder:
    """Adds events to one database file; remembers the callback targets of the first tasks."""

    path: str
    box: SecretBox
    keep_targets: int = 200
    events: int = 0
    task_ids: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def grow_to(self, total: int) -> float:
        """Add events until the file holds `total`; the events per second it took."""
        migrate(self.path)
        conn = connect(self.path)
        conn.execute("PRAGMA journal_mode = WAL")
        started, added = time.perf_counter(), total - self.events
        try:
            while self.events < total:
                self._transaction(conn, min(total, self.events + TRANSACTION))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        return added / (time.perf_counter() - started) if added > 0 else 0.0

    def _transaction(self, conn: sqlite3.Connection, until: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        for number in range(self.events, until):
            if number % EVENTS_PER_TASK == 0:
                self._new_task(conn)
            self._event(conn, number)
        conn.execute("COMMIT")
        self.events = until

    def _new_task(self, conn: sqlite3.Connection) -> None:
        task_id = new_task_id()
        secret = self.box.new_callback_secret(task_id)
        new = NewTask(id=task_id, provider="piapi", model="Qubico/skyreels", request={},
                      callback_secret_hash=self.box.hash_secret(secret))
        result_of(conn, tasks.insert_task(new))
        if len(self.targets) < self.keep_targets:
            ptid = _ptid(len(self.task_ids))
            self.targets.append(Target(f"/callbacks/piapi/{task_id}", secret, ptid))
        self.task_ids.append(task_id)

    def _event(self, conn: sqlite3.Connection, number: int) -> None:
        index = len(self.task_ids) - 1
        ptid = _ptid(index)
        body = callback_body(Target("", "", ptid), number)
        event = EventIn(
            dedupe_key=f"cb:{ptid}:processing:{number}", source="callback",
            seen=Observation("running", number % EVENTS_PER_TASK), provider_status="processing",
            payload=compact(json.loads(body)), provider_task_id=ptid,
        )
        result_of(conn, tasks.insert_event(self.task_ids[index], event, frozenset()))


def _ptid(index: int) -> str:
    return f"seed-ptid-{index:07d}"
