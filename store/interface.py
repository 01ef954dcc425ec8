"""The store as the task service, poller and submit queue use it: what a second database backend
must offer (the SQLite `Store` is one). Nothing here names SQLite."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from store.models import EventIn, EventOutcome, NewTask


class PollScheduleStore(Protocol):
    """When each sent, unfinished task is asked about next."""

    async def due(self, now: float, providers: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Tasks whose poll is due (or not yet scheduled)."""

    async def schedule(
        self, task_id: str, next_poll_at: float, attempts: int, deadline_at: float | None = None
    ) -> None:
        """Set the next poll (and, the first time, the deadline)."""


class SubmitSlotsStore(Protocol):
    """In-flight slots per provider and submissions held until one frees."""

    async def claim_slot(
        self, task_id: str, provider: str, cap: int, keep_sealed: bool = False
    ) -> bool:
        """Take a slot of the provider for the task (cap 0: no cap); False when none is free.
        With `keep_sealed` the sealed request stays until the provider's answer is recorded."""

    async def hold(self, task_id: str, sealed: str, submit_after: float) -> None:
        """Hold a submission, sealed, until `submit_after` and a free slot."""

    async def held(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        """Held submissions that may be tried now, oldest first."""

    async def interrupted(self) -> list[dict[str, Any]]:
        """Tasks whose send was cut off by a stop (`id`, `provider`, `sealed`: the request is
        still sealed, so the send can be made again)."""

    async def resend(self, task_id: str) -> bool:
        """Hold an interrupted send whose request is still sealed, to be made again now."""


class TaskStore(Protocol):
    """Tasks and their events. `record_event` is the only way a task's state changes: it records
    the event, moves the task and queues its notices in one transaction, and says what it did."""

    @property
    def polls(self) -> PollScheduleStore:
        """The polling schedule."""

    @property
    def submits(self) -> SubmitSlotsStore:
        """The submission queue's slots and held submissions."""

    async def create_task(self, new: NewTask) -> tuple[dict[str, Any], bool]:
        """Record a task (queued); with a known Idempotency-Key return the first one instead."""

    async def create_and_claim(
        self, new: NewTask, cap: int, seal: Callable[[], str], keep_sealed: bool = False
    ) -> tuple[dict[str, Any], bool, bool]:
        """Record a task and, in the same commit, claim its send or hold it sealed:
        (task, created, claimed). A submit is recorded whole or not at all."""

    async def record_event(self, task_id: str, event: EventIn) -> EventOutcome:
        """Record an event once and apply it, with its notices, in one commit."""

    async def get_task(self, task_id: str) -> dict[str, Any]:
        """One task; TaskNotFound if there is none."""

    def failure(self) -> str | None:
        """Why the store can no longer write, or None while it is healthy."""
