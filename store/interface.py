"""The store interface both databases implement (store/sqlite/, store/postgres/).

Callers type against these protocols and never against one database's classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from store.models import (
    DueWork,
    EventIn,
    EventOutcome,
    HealthPolicy,
    Kept,
    KeptCopy,
    NewTask,
    Registration,
    Resealed,
    SealedColumn,
    TaskSearch,
)
from store.rows import (
    AlertRow,
    CostTotal,
    CutOffSend,
    DailyCost,
    Delivery,
    DestinationRow,
    DueDelivery,
    DuePoll,
    EventRow,
    HeldSend,
    InboundMessage,
    KeptVideo,
    SendableDelivery,
    TaskRow,
    VideoCopy,
)

# Topics a store announces after commit (on PostgreSQL to every process, through LISTEN/NOTIFY):
# notices were queued, a provider slot may have freed, a task changed (the payload is its id).
DELIVERIES, SLOTS, TASKS = "deliveries", "slots", "tasks"
TOPICS = (DELIVERIES, SLOTS, TASKS)
Listener = Callable[[str], None]


class OutboxStore(Protocol):
    """Deliveries of notices: claims under a lease, attempts, retries."""

    async def due(
        self, now: float, stale_before: float, limit: int, skip_routes: Sequence[str] = ()
    ) -> list[DueDelivery]: ...
    async def claim(
        self, ids: Sequence[int], owner: str, now: float, stale_before: float
    ) -> list[int]: ...
    async def claim_rows(
        self, ids: Sequence[int], owner: str, now: float, stale_before: float
    ) -> tuple[list[int], list[SendableDelivery]]: ...
    async def release(self, ids: Sequence[int], owner: str) -> None: ...
    async def renew(self, ids: Sequence[int], owner: str, now: float) -> list[int]: ...
    async def finish(
        self, attempts: Sequence[Any], owner: str, policy: HealthPolicy = ...
    ) -> None: ...
    async def give_up(
        self, ids: Sequence[int], reason: str, now: float, stale_before: float
    ) -> int: ...
    async def disable_route(self, route_key: str, reason: str) -> int: ...
    async def gone(
        self, route_key: str, label: str, reason: str, at: float, policy: HealthPolicy
    ) -> int: ...
    async def next_due_at(self, lease: float | None = None) -> float | None: ...
    async def redeliver(self, delivery_id: int, now: float) -> Delivery: ...
    async def deliveries(self, **filters: Any) -> list[Delivery]: ...


class PollScheduleStore(Protocol):
    """The poll schedule."""

    async def claim_due(
        self, now: float, providers: Sequence[str], limit: int, owner: str, lease: float
    ) -> list[DuePoll]: ...
    async def schedule(
        self, task_id: str, next_poll_at: float, attempts: int, deadline_at: float | None = None
    ) -> None: ...
    async def release(self, task_ids: Sequence[str], owner: str, now: float) -> None: ...


class SubmitSlotsStore(Protocol):
    """In-flight slots per provider and held submissions."""

    async def claim_slot(
        self,
        task_id: str,
        provider: str,
        cap: int,
        keep_sealed: bool = False,
        *,
        owner: str = "",
        lease: float = 60.0,
    ) -> bool:
        """Take a slot of the provider for the task (cap 0: no cap) for `owner` under a lease of
        `lease` seconds; False when none is free. With `keep_sealed` the sealed request stays
        until the provider's answer is recorded."""
    async def hold(self, task_id: str, sealed: str, submit_after: float) -> None: ...
    async def held(self, now: float, limit: int = 100) -> list[HeldSend]: ...
    async def interrupted(
        self, now: float | None = None, grace: float = 60.0
    ) -> list[CutOffSend]:
        """Tasks whose send was cut off and whose claim's lease ran out (`id`, `provider`,
        `sealed`: the request is still sealed, so the send can be made again)."""
    async def resend(self, task_id: str) -> bool:
        """Hold an interrupted send whose request is still sealed, to be made again now."""


class StatsStore(Protocol):
    """Counts for /metrics and the dashboard, kept as rows change; `fold` moves deltas into
    the totals, `limit` at a time (the upkeep loop, every few seconds)."""

    async def snapshot(self) -> dict[str, list[dict[str, Any]]]: ...
    async def daily_costs(self, since: str) -> list[DailyCost]: ...
    async def cost_totals(self, status: str | None = None) -> list[CostTotal]: ...
    async def fold(self, limit: int = ...) -> int: ...


class InboundStore(Protocol):
    """Messages received on the Standard Webhooks route."""

    async def record(self, source: str, webhook_id: str, payload: str) -> bool: ...
    async def messages(self, source: str) -> list[InboundMessage]: ...
    async def recent(
        self, *, source: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[InboundMessage]: ...


class VideoCopyStore(Protocol):
    """The kept-video copy job: claims under a lease and what became of each copy."""

    async def claim_copies(
        self, now: float, limit: int, owner: str, lease: float
    ) -> list[VideoCopy]: ...
    async def keep(self, task_id: str, owner: str, copy: KeptCopy) -> bool: ...
    async def fail(self, task_id: str, owner: str, reason: str) -> bool: ...
    async def retry(self, task_id: str, owner: str, reason: str, next_at: float) -> bool: ...
    async def release(self, task_ids: Sequence[str], owner: str) -> None: ...
    async def backfill(self, now: float | None = None) -> int: ...
    async def kept_before(self, kept_at: str, limit: int = 100) -> list[KeptVideo]: ...
    async def mark_deleted(self, task_id: str, reason: str) -> bool: ...
    async def next_due_at(self) -> float | None: ...


class SealedStore(Protocol):
    """Values sealed with the secret key: the key check, and re-sealing for a rotation."""

    async def key_check(self) -> str | None: ...
    async def set_key_check(self, value: str, replace: bool = False) -> None: ...
    async def any_value(self) -> str | None: ...
    async def page(self, column: SealedColumn, after: Any, limit: int) -> list[dict[str, Any]]: ...
    async def reseal(
        self, column: SealedColumn, changes: Sequence[Resealed]
    ) -> int: ...


class SessionStore(Protocol):
    """Dashboard sessions ended by signing out."""

    async def end(self, sid: str, expires_at: float) -> None: ...
    async def is_ended(self, sid: str) -> bool: ...


class RetentionStore(Protocol):
    """Old events, attempts and inbound messages, counted and deleted in batches."""

    async def count_old(self, kept: Kept, cutoff: str) -> int: ...
    async def delete_old(self, kept: Kept, cutoff: str, limit: int) -> int: ...


class DestinationStore(Protocol):
    """Registered destinations: named, filtered, paused and resumed by hand."""

    async def register(self, registration: Registration) -> DestinationRow: ...
    async def all(self) -> list[DestinationRow]: ...
    async def get(self, destination_id: int) -> DestinationRow: ...
    async def change(self, destination_id: int, changes: dict[str, Any]) -> DestinationRow: ...
    async def resume(self, destination_id: int) -> DestinationRow: ...
    async def delete(self, destination_id: int) -> None: ...
    async def sync_managed(
        self, managed_by: str, wanted: Sequence[Registration]
    ) -> list[str]: ...


class AlertStore(Protocol):
    """The operator's alerts: claimed, sent and retried."""

    async def claim(
        self, now: float, stale_before: float, owner: str, limit: int = 20
    ) -> list[AlertRow]: ...
    async def settle(
        self, alert_id: int, owner: str, error: str | None, next_attempt_at: float | None
    ) -> bool: ...
    async def recent(self, limit: int = 50) -> list[AlertRow]: ...


class TaskStore(Protocol):
    """Tasks and events, with the outbox, polls, submits, inbound and stats parts."""

    @property
    def outbox(self) -> OutboxStore: ...
    @property
    def polls(self) -> PollScheduleStore: ...
    @property
    def submits(self) -> SubmitSlotsStore: ...
    @property
    def inbound(self) -> InboundStore: ...
    @property
    def stats(self) -> StatsStore: ...
    @property
    def videos(self) -> VideoCopyStore: ...
    @property
    def sealed(self) -> SealedStore: ...
    @property
    def sessions(self) -> SessionStore: ...
    @property
    def retention(self) -> RetentionStore: ...
    @property
    def destinations(self) -> DestinationStore: ...
    @property
    def alerts(self) -> AlertStore: ...
    @property
    def notify_on(self) -> frozenset[str]: ...

    async def close(self) -> None: ...
    def failure(self) -> str | None: ...
    async def trouble(self) -> str | None: ...
    async def reclaim_space(self) -> None: ...
    async def create_task(self, new: NewTask) -> tuple[TaskRow, bool]: ...
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
        hold it with its `sealed` request: (task, created, claimed). A submit is recorded
        whole or not at all; the request is sealed before, never inside, the transaction."""
    async def record_event(self, task_id: str, event: EventIn) -> EventOutcome: ...
    async def due_work(
        self, now: float, pollable: Sequence[str], kept_before: str | None
    ) -> DueWork:
        """Which kinds of work wait at `now` (store/plans/due.py), in one read."""
    async def get_task(self, task_id: str) -> TaskRow: ...
    async def list_tasks(
        self,
        *,
        status: str | None = None,
        provider: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
        search: TaskSearch | None = None,
    ) -> list[TaskRow]: ...
    async def task_events(
        self, task_id: str, *, after_id: int | None = None, limit: int | None = None,
        newest: bool = False,
    ) -> list[EventRow]: ...
    async def cost_totals(self, status: str | None = None) -> list[CostTotal]: ...
    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        """Call `listener(payload)` after each commit that announces `topic`; returns an
        unsubscribe function."""
        ...
