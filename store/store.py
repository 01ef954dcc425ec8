"""The store: every read and write reelhook makes, named for what it does."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from store import polling, queries
from store.event_batch import RecordEvents
from store.inbound import Inbound
from store.models import EventIn, EventOutcome, NewTask
from store.outbox import Outbox
from store.polling import Polling
from store.reader import Reader
from store.schema import migrate
from store.states import FAILED, SUCCEEDED
from store.writer import Writer

DEFAULT_NOTIFY_ON = frozenset({SUCCEEDED, FAILED})


class Store:
    """One SQLite file: a writer thread for changes, reader threads for queries."""

    def __init__(
        self,
        path: str,
        *,
        notify_on: frozenset[str] = DEFAULT_NOTIFY_ON,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = path
        self.notify_on = notify_on
        self.writer = Writer(path, busy_timeout=busy_timeout)
        self.reader = Reader(path)
        self.outbox = Outbox(self.writer, self.reader)
        self.polling = Polling(self.writer, self.reader)
        self.inbound = Inbound(self.writer, self.reader)
        self._events = RecordEvents(notify_on)

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        notify_on: frozenset[str] = DEFAULT_NOTIFY_ON,
        busy_timeout: float = 5.0,
    ) -> Store:
        """Upgrade the file to the current schema and start the writer."""
        await asyncio.to_thread(migrate, path)
        store = cls(path, notify_on=notify_on, busy_timeout=busy_timeout)
        store.writer.start()
        return store

    async def close(self) -> None:
        """Commit what is queued, then stop every thread."""
        await asyncio.to_thread(self.writer.stop)
        await asyncio.to_thread(self.reader.close)

    async def create_task(self, new: NewTask) -> tuple[dict[str, Any], bool]:
        """Record a task (queued); with a known Idempotency-Key return the first one instead."""
        return await self.writer.run(functools.partial(queries.insert_task, new=new))

    async def record_event(self, task_id: str, event: EventIn) -> EventOutcome:
        """Record an event once and apply it to the task, with its notices, in one commit."""
        outcome: EventOutcome = await self.writer.run_batched(self._events, (task_id, event))
        return outcome

    async def cancel_unsent(self, task_id: str, event: EventIn) -> EventOutcome | None:
        """Cancel a task no send has started for, atomically; None when it is already going."""
        return await self.writer.run(
            functools.partial(
                polling.cancel_unsent, task_id=task_id, event=event, notify_on=self.notify_on
            )
        )

    async def get_task(self, task_id: str) -> dict[str, Any]:
        """One task; TaskNotFound if there is none."""
        return await self.reader.run(functools.partial(queries.fetch_task, task_id=task_id))

    async def list_tasks(
        self,
        *,
        status: str | None = None,
        provider: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Tasks newest first, filtered by status and provider, after a cursor."""
        return await self.reader.run(
            functools.partial(
                queries.select_tasks,
                status=status, provider=provider, limit=limit, before_id=before_id,
            )
        )

    async def task_events(self, task_id: str) -> list[dict[str, Any]]:
        """Every recorded event of a task, oldest first."""
        return await self.reader.run(functools.partial(queries.select_events, task_id=task_id))
