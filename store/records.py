"""What both stores share above their database: the parts, tasks and events, subscriptions."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from store.announce import Announcer
from store.interface import Listener
from store.models import DueWork, EventIn, EventOutcome, NewTask, TaskSearch
from store.parts import (
    Alerts,
    Database,
    Destinations,
    Inbound,
    Outbox,
    Polls,
    Retention,
    Sealed,
    Sessions,
    Stats,
    Submits,
    Videos,
)
from store.plans import due, tasks
from store.rows import CostTotal, EventRow, TaskRow


class Records:
    """Tasks and events with the outbox, polls, submits, inbound and stats parts, on `db`.

    Subclasses (store/sqlite/store.py, store/postgres/store.py) open and close the database and
    record events in their own way; every statement is in store/plans."""

    def __init__(
        self,
        db: Database,
        notify_on: frozenset[str],
        announcer: Announcer,
        video_wait: float | None = None,
    ) -> None:
        self.notify_on = notify_on
        # None: videos are not kept; else how long a succeeded task's notices wait for the copy.
        self.video_wait = video_wait
        self.announcer = announcer
        self.db = db
        self.outbox = Outbox(db)
        self.polls = Polls(db)
        self.submits = Submits(db)
        self.inbound = Inbound(db)
        self.stats = Stats(db)
        self.videos = Videos(db)
        self.sealed = Sealed(db)
        self.sessions = Sessions(db)
        self.retention = Retention(db)
        self.destinations = Destinations(db)
        self.alerts = Alerts(db)

    async def create_task(self, new: NewTask) -> tuple[TaskRow, bool]:
        """Record a task (queued); with a known Idempotency-Key return the first one instead."""
        return await self.db.write_grouped(functools.partial(tasks.insert_task, new))

    async def create_and_claim(
        self,
        new: NewTask,
        cap: int,
        sealed: str,
        keep_sealed: bool = False,
        *,
        owner: str = "",
        lease: float = 60.0,
    ) -> tuple[TaskRow, bool, bool]:
        """Record a task and, in the same commit, claim its send (for `owner` under `lease`) or
        hold it sealed (a submit is recorded whole or not at all): (task, created, claimed)."""
        return await self.submits.create_and_claim(
            new, cap, sealed, keep_sealed, owner=owner, lease=lease
        )

    async def due_work(
        self, now: float, pollable: Sequence[str], kept_before: str | None
    ) -> DueWork:
        """Which kinds of work wait at `now` (store/plans/due.py), in one read."""
        return await self.db.read(functools.partial(due.due_work, now, pollable, kept_before))

    async def record_event(self, task_id: str, event: EventIn) -> EventOutcome:
        """Record an event once and apply it to the task, with its notices, in one commit.

        Only the task service calls this (every state change goes through it)."""
        return await self.db.write_grouped(
            functools.partial(
                tasks.record_event, task_id, event, self.notify_on, self.video_wait
            )
        )

    async def get_task(self, task_id: str) -> TaskRow:
        """One task; TaskNotFound if there is none."""
        return await self.db.read(functools.partial(tasks.fetch_task, task_id))

    async def list_tasks(
        self,
        *,
        status: str | None = None,
        provider: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
        search: TaskSearch | None = None,
    ) -> list[TaskRow]:
        """Tasks newest first, filtered by status, provider and `search`, after a cursor."""
        return await self.db.read(functools.partial(
            tasks.select_tasks, status=status, provider=provider, limit=limit,
            before_id=before_id, search=search,
        ))

    async def task_events(
        self, task_id: str, *, after_id: int | None = None, limit: int | None = None,
        newest: bool = False,
    ) -> list[EventRow]:
        """A task's recorded events, oldest first: after event `after_id`, at most `limit`
        (with `newest`, the last `limit`)."""
        return await self.db.read(
            functools.partial(tasks.select_events, task_id, after_id, limit, newest)
        )

    async def cost_totals(self, status: str | None = None) -> list[CostTotal]:
        """Cost per provider, optionally of tasks in one status."""
        return await self.stats.cost_totals(status)

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        """Call `listener(payload)` after each commit that announces `topic` (deliveries, slots,
        tasks with the task id); returns the function that unsubscribes."""
        return self.announcer.subscribe(topic, listener)
