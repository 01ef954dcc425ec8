"""The store on one SQLite file: a writer thread for changes, reader threads for queries."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

from store.announce import Announcer, topics_of
from store.errors import StoreUnavailable
from store.interface import Listener
from store.models import EventIn, EventOutcome
from store.records import Records
from store.sql import Announce
from store.sqlite.connection import connect
from store.sqlite.database import RUNG_TOPICS, SqliteDatabase
from store.sqlite.doorbell import Doorbell
from store.sqlite.event_batch import RecordEvents
from store.sqlite.reader import Reader
from store.sqlite.schema import migrate
from store.sqlite.writer import Writer
from store.states import DEFAULT_NOTIFY_ON

RECLAIM_PAGES = 2000  # pages (4 KiB each) handed back per reclaim_space, so one commit stays short


class SqliteStore(Records):
    """One SQLite file; other processes on it are woken through the doorbell."""

    def __init__(
        self,
        path: str,
        *,
        notify_on: frozenset[str] = DEFAULT_NOTIFY_ON,
        busy_timeout: float = 5.0,
        video_wait: float | None = None,
    ) -> None:
        self.path = path
        self.writer = Writer(path, busy_timeout=busy_timeout)
        self.reader = Reader(path)
        announcer = Announcer()
        self.doorbell = Doorbell(path)
        self._sqlite = SqliteDatabase(self.writer, self.reader, announcer, self.doorbell)
        super().__init__(self._sqlite, notify_on, announcer, video_wait)
        self._events = RecordEvents(notify_on, video_wait)

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        notify_on: frozenset[str] = DEFAULT_NOTIFY_ON,
        busy_timeout: float = 5.0,
        video_wait: float | None = None,
    ) -> SqliteStore:
        """Upgrade the file to the current schema and start the writer; StoreUnavailable, in
        one line naming the file, when the database cannot be opened or upgraded."""
        try:
            await asyncio.to_thread(migrate, path)
        except Exception as exc:  # sqlite3 and OS errors alike: the start must say why, once
            raise StoreUnavailable(f"cannot open the database {path}: {exc}") from exc
        store = cls(path, notify_on=notify_on, busy_timeout=busy_timeout, video_wait=video_wait)
        await asyncio.to_thread(store.writer.start)
        return store

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        """Records.subscribe; a listener of notices or slots hears other processes' too."""
        if topic in RUNG_TOPICS:
            self.doorbell.listen(self._sqlite.rung)
        return super().subscribe(topic, listener)

    async def close(self) -> None:
        """Commit what is queued (ringing for it), stop listening, then stop every thread."""
        await asyncio.to_thread(self.writer.stop)
        self.doorbell.close()
        await asyncio.to_thread(self.reader.close)

    def failure(self) -> str | None:
        """Why the store can no longer write (its writer died), or None while it is healthy."""
        return self.writer.failure

    async def trouble(self) -> str | None:
        """Why the database cannot serve now, or None (a file has only its writer to lose)."""
        return self.failure()

    async def reclaim_space(self) -> None:
        """Give the pages freed by deletes back to the file system (files made with
        auto_vacuum = INCREMENTAL, as every new one is), a bounded number per call."""
        await self.writer.run(_reclaim)

    async def record_event(self, task_id: str, event: EventIn) -> EventOutcome:
        """Record an event once and apply it to the task, with its notices, in one commit.

        Events waiting together are recorded together (store/sqlite/event_batch.py)."""
        outcome: EventOutcome = await self.writer.run_batched(self._events, (task_id, event))
        self._sqlite.announce([Announce(topic, payload) for topic, payload in topics_of(outcome)])
        return outcome


def end_claims_of(path: str, owner: str) -> int:
    """End every task claim `owner` holds in the SQLite file at `path` (that process is known
    to be gone), so they are taken over now rather than when their lease runs out."""
    conn = connect(path)
    try:
        with conn:
            ended = conn.execute(
                "UPDATE tasks SET claim_expires_at = 0 WHERE claim_owner = ?", (owner,)
            )
        return int(ended.rowcount)
    finally:
        conn.close()


def _reclaim(conn: sqlite3.Connection) -> None:
    # Python's sqlite3 steps a statement without result columns once, and each step of
    # incremental_vacuum frees one page: one statement per page.
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    for _ in range(min(free, RECLAIM_PAGES)):
        conn.execute("PRAGMA incremental_vacuum(1)")
