"""The store: every read and write reelhook makes, named for what it does."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from store import costs, queries
from store.announce import Announcer, topics_of
from store.errors import StoreUnavailable
from store.event_batch import RecordEvents
from store.inbound import Inbound
from store.interface import TASKS, Listener
from store.models import EventIn, EventOutcome, NewTask
from store.outbox import Outbox
from store.poll_schedule import PollSchedule
from store.reader import Reader
from store.schema import migrate
from store.states import DEFAULT_NOTIFY_ON
from store.stats import Stats
from store.submit_queue import SubmitSlots
from store.writer import Writer


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
        self.polls = PollSchedule(self.writer, self.reader)
        self.submits = SubmitSlots(self.writer, self.reader)
        self.inbound = Inbound(self.writer, self.reader)
        self._events = RecordEvents(notify_on)
        self.stats = Stats(self.reader)
        self.announcer = Announcer()

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        notify_on: frozenset[str] = DEFAULT_NOTIFY_ON,
        busy_timeout: float = 5.0,
    ) -> Store:
        """Upgrade the file to the current schema and start the writer; StoreUnavailable, in
        one line naming the file, when the database cannot be opened or upgraded."""
        try:
            await asyncio.to_thread(migrate, path)
        except Exception as exc:  # sqlite3 and OS errors alike: the start must say why, once
            raise StoreUnavailable(f"cannot open the database {path}: {exc}") from exc
        store = cls(path, notify_on=notify_on, busy_timeout=busy_timeout)
        await asyncio.to_thread(store.writer.start)
        return store

    async def close(self) -> None:
        """Commit what is queued, then stop every thread."""
        await asyncio.to_thread(self.writer.stop)
        await asyncio.to_thread(self.reader.close)

    def failure(self) -> str | None:
        """Why the store can no longer write (its writer died), or None while it is healthy."""
        return self.writer.failure

    async def create_task(self, new: NewTask) -> tuple[dict[str, Any], bool]:
        """Record a task (queued); with a known Idempotency-Key return the first one instead."""
        task, created = await self.writer.run(functools.partial(queries.insert_task, new=new))
        if created:
            self.announcer.announce(TASKS, str(task["id"]))
        return task, created

    async def create_and_claim(
        self,
        new: NewTask,
        cap: int,
        seal: Callable[[], str],
        keep_sealed: bool = False,
        *,
        owner: str = "",
        lease: float = 60.0,
    ) -> tuple[dict[str, Any], bool, bool]:
        """Record a task and, in the same commit, claim its send (for `owner` under `lease`) or
        hold it sealed (a submit is recorded whole or not at all): (task, created, claimed)."""
        task, created, claimed = await self.submits.create_and_claim(
            new, cap, seal, keep_sealed, owner=owner, lease=lease
        )
        if created:
            self.announcer.announce(TASKS, str(task["id"]))
        return task, created, claimed

    async def record_event(self, task_id: str, event: EventIn) -> EventOutcome:
        """Record an event once and apply it to the task, with its notices, in one commit.

        Only the task service calls this (every state change goes through it). Events waiting
        together are recorded together (store/event_batch.py)."""
        outcome: EventOutcome = await self.writer.run_batched(self._events, (task_id, event))
        for topic, payload in topics_of(outcome):
            self.announcer.announce(topic, payload)
        return outcome

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        """Call `listener(payload)` after each commit that announces `topic` (deliveries, slots,
        tasks with the task id); one SQLite file has one process, so these are this process's
        commits. Returns the function that unsubscribes."""
        return self.announcer.subscribe(topic, listener)

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

    async def cost_totals(self, status: str | None = None) -> list[dict[str, Any]]:
        """Cost per provider, optionally of tasks in one status."""
        return await self.reader.run(functools.partial(costs.cost_totals, status=status))
