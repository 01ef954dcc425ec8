"""The store's parts, written once over a `Database` that runs plans (store/plans) on SQLite or
PostgreSQL: the outbox, the poll schedule, the submission slots, inbound messages, counts and
kept videos."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from store.models import (
    NO_POLICY,
    HealthPolicy,
    Kept,
    KeptCopy,
    NewTask,
    Registration,
    Resealed,
    SealedColumn,
)
from store.plans import (
    alerts,
    destinations,
    health,
    inbound,
    outbox,
    polls,
    retention,
    sealed,
    sessions,
    stats,
    submits,
    videos,
)
from store.plans.outbox import AttemptRecord
from store.rows import (
    AlertRow,
    CostTotal,
    CutOffSend,
    DailyCost,
    Delivery,
    DestinationRow,
    DueDelivery,
    DuePoll,
    HeldSend,
    InboundMessage,
    KeptVideo,
    SendableDelivery,
    TaskRow,
    VideoCopy,
)
from store.sql import Plan

T = TypeVar("T")
PlanOf = Callable[[], Plan[T]]
# A plan for many items of one kind at once, with one result per item, in order.
BatchPlan = Callable[[list[Any]], Plan[list[Any]]]


class Database(Protocol):
    """Runs plans on one database; a write answers only once it is committed, and what it
    announces is heard after the commit."""

    async def read(self, plan: PlanOf[T]) -> T:
        """A plan that only reads."""
        ...

    async def write(self, plan: PlanOf[T]) -> T:
        """A plan that writes, in a transaction of its own on PostgreSQL (on SQLite every write
        shares the writer thread's next commit)."""
        ...

    async def write_grouped(self, plan: PlanOf[T]) -> T:
        """A plan that writes, sharing one commit with the writes waiting beside it."""
        ...

    async def write_batched(self, batch: BatchPlan, item: Any) -> Any:
        """`batch([item])`'s one result, where the database may run the items of writes waiting
        beside it through one `batch(items)`."""
        ...


class Outbox:
    """Deliveries of notices: claims under a lease, attempts, retries (store/plans/outbox.py)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def due(
        self, now: float, stale_before: float, limit: int, skip_routes: Sequence[str] = ()
    ) -> list[DueDelivery]:
        """Deliveries due now (but for those of `skip_routes`), with what choosing among them
        takes."""
        return await self._db.read(
            functools.partial(outbox.select_due, now, stale_before, limit, tuple(skip_routes))
        )

    async def claim(
        self, ids: Sequence[int], owner: str, now: float, stale_before: float
    ) -> list[int]:
        """Claim deliveries for sending; returns the ids this owner now holds, in order."""
        return await self._db.write(functools.partial(outbox.claim, ids, owner, now, stale_before))

    async def claim_rows(
        self, ids: Sequence[int], owner: str, now: float, stale_before: float
    ) -> tuple[list[int], list[SendableDelivery]]:
        """Claim deliveries and read those taken for sending, in one commit."""
        return await self._db.write(
            functools.partial(outbox.claim_rows, ids, owner, now, stale_before)
        )

    async def release(self, ids: Sequence[int], owner: str) -> None:
        """Make unfinished claims pending again."""
        await self._db.write(functools.partial(outbox.release, ids, owner))

    async def renew(self, ids: Sequence[int], owner: str, now: float) -> list[int]:
        """Renew `owner`'s claims; returns the ids it still holds."""
        return await self._db.write(functools.partial(outbox.renew, ids, owner, now))

    async def finish(
        self, attempts: Sequence[AttemptRecord], owner: str, policy: HealthPolicy = NO_POLICY
    ) -> None:
        """Record attempts and move their deliveries on (where the claim is still `owner`'s),
        then disable and alert as `policy` says."""
        await self._db.write_batched(outbox.finish_many, (tuple(attempts), owner, policy))

    async def give_up(
        self, ids: Sequence[int], reason: str, now: float, stale_before: float
    ) -> int:
        """End due deliveries, dead with the reason (their destination stopped)."""
        return await self._db.write(
            functools.partial(outbox.give_up, ids, reason, now, stale_before)
        )

    async def disable_route(self, route_key: str, reason: str) -> int:
        """Disable a destination everywhere it is used; returns the deliveries given up."""
        return await self._db.write(functools.partial(outbox.disable_route, route_key, reason))

    async def gone(
        self, route_key: str, label: str, reason: str, at: float, policy: HealthPolicy
    ) -> int:
        """A destination that answered "gone" outside a delivery (a test send): disabled, its
        waiting deliveries ended, the operator told; how many destinations were disabled."""
        return await self._db.write(
            functools.partial(health.gone, route_key, label, reason, at, policy)
        )

    async def next_due_at(self, lease: float | None = None) -> float | None:
        """When the next pending delivery falls due (Unix seconds), or None; with `lease`,
        claims that old count as due."""
        return await self._db.read(functools.partial(outbox.next_due_at, lease))

    async def redeliver(self, delivery_id: int, now: float) -> Delivery:
        """Queue a delivered or dead delivery again, announced to the workers;
        DeliveryNotFound, DeliveryBusy."""
        return await self._db.write(functools.partial(outbox.redeliver, delivery_id, now))

    async def deliveries(self, **filters: Any) -> list[Delivery]:
        """Deliveries newest first with their attempts (`outbox.select_deliveries`)."""
        return await self._db.read(functools.partial(outbox.select_deliveries, **filters))


class Polls:
    """The poll schedule (store/plans/polls.py)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim_due(
        self, now: float, providers: Sequence[str], limit: int, owner: str, lease: float
    ) -> list[DuePoll]:
        """Take due polls for `owner` under a lease; the rows as they were before the claim."""
        return await self._db.write(
            functools.partial(polls.claim_polls, now, tuple(providers), limit, owner, lease)
        )

    async def schedule(
        self, task_id: str, next_poll_at: float, attempts: int, deadline_at: float | None = None
    ) -> None:
        """Set the next poll (and, the first time, the deadline); the claim ends."""
        await self._db.write(
            functools.partial(polls.set_poll, task_id, next_poll_at, attempts, deadline_at)
        )

    async def release(self, task_ids: Sequence[str], owner: str, now: float) -> None:
        """Hand back `owner`'s polls it did not finish: due again at `now`."""
        await self._db.write(functools.partial(polls.release_polls, task_ids, owner, now))


class Submits:
    """In-flight slots per provider and held submissions (store/plans/submits.py)."""

    def __init__(self, db: Database) -> None:
        self._db = db

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
        `lease` seconds; False when none is free."""
        return await self._db.write(functools.partial(
            submits.claim_slot, task_id, provider, cap, keep_sealed, owner=owner, lease=lease
        ))

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
        """Record a task and claim its send (or hold it `sealed`, its request encrypted
        before the transaction began) in one commit: (task, created, claimed)."""
        return await self._db.write(functools.partial(
            submits.insert_and_claim, new, cap, sealed, keep_sealed, owner, lease
        ))

    async def hold(self, task_id: str, sealed: str, submit_after: float) -> None:
        """Hold a submission, sealed, until `submit_after` and a free slot (announced)."""
        await self._db.write(functools.partial(submits.hold, task_id, sealed, submit_after))

    async def resend(self, task_id: str) -> bool:
        """Hold an interrupted send whose request is still sealed, to be made again now."""
        return await self._db.write(functools.partial(submits.resend, task_id))

    async def held(self, now: float, limit: int = 100) -> list[HeldSend]:
        """Held submissions that may be tried now, oldest first."""
        return await self._db.read(functools.partial(submits.held, now, limit))

    async def interrupted(
        self, now: float | None = None, grace: float = 60.0
    ) -> list[CutOffSend]:
        """Tasks whose send was cut off (`submits.interrupted_sends`)."""
        moment = time.time() if now is None else now
        return await self._db.read(functools.partial(submits.interrupted_sends, moment, grace))


class Inbound:
    """Messages received on the Standard Webhooks route (store/plans/inbound.py)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, source: str, webhook_id: str, payload: str) -> bool:
        """Record a verified message; False for a duplicate webhook-id."""
        return await self._db.write_grouped(
            functools.partial(inbound.insert_inbound, source, webhook_id, payload)
        )

    async def messages(self, source: str) -> list[InboundMessage]:
        """Every recorded message of a source, oldest first."""
        return await self._db.read(functools.partial(inbound.select_inbound, source))

    async def recent(
        self, *, source: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[InboundMessage]:
        """Messages newest first, optionally of one source, below a cursor id."""
        return await self._db.read(
            functools.partial(inbound.select_recent, source, limit, before_id)
        )


class Stats:
    """Counts for /metrics and the dashboard, kept as rows change (store/plans/stats.py)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Grouped counts of tasks, sends in flight, deliveries and attempts."""
        return await self._db.read(stats.select_snapshot)

    async def daily_costs(self, since: str) -> list[DailyCost]:
        """Spending per provider per day since a date (YYYY-MM-DD)."""
        return await self._db.read(functools.partial(stats.select_daily_costs, since))

    async def cost_totals(self, status: str | None = None) -> list[CostTotal]:
        """Cost per provider, optionally of tasks in one status."""
        return await self._db.read(functools.partial(stats.cost_totals, status))

    async def fold(self, limit: int = stats.FOLD_BATCH) -> int:
        """Fold the oldest `limit` of the counts' deltas into their totals; how many."""
        return await self._db.write(functools.partial(stats.fold_counts, limit))


class Videos:
    """Kept videos: the copy job's claims and outcomes (store/plans/videos.py)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim_copies(
        self, now: float, limit: int, owner: str, lease: float
    ) -> list[VideoCopy]:
        """Take due copies for `owner` under a lease."""
        return await self._db.write(
            functools.partial(videos.claim_copies, now, limit, owner, lease)
        )

    async def keep(self, task_id: str, owner: str, copy: KeptCopy) -> bool:
        """Record a copy kept; False when the claim was no longer `owner`'s."""
        return await self._db.write(
            functools.partial(videos.keep, task_id, owner, copy, time.time())
        )

    async def fail(self, task_id: str, owner: str, reason: str) -> bool:
        """Record that no copy can be made, and why."""
        return await self._db.write(
            functools.partial(videos.fail, task_id, owner, reason, time.time())
        )

    async def retry(self, task_id: str, owner: str, reason: str, next_at: float) -> bool:
        """Make the copy due again at `next_at`."""
        return await self._db.write(
            functools.partial(videos.retry, task_id, owner, reason, next_at, time.time())
        )

    async def release(self, task_ids: Sequence[str], owner: str) -> None:
        """Hand back unfinished claims."""
        await self._db.write(functools.partial(videos.release, task_ids, owner))

    async def backfill(self, now: float | None = None) -> int:
        """Queue copies for succeeded tasks that have none; returns how many."""
        moment = time.time() if now is None else now
        return await self._db.write(functools.partial(videos.backfill, moment))

    async def kept_before(self, kept_at: str, limit: int = 100) -> list[KeptVideo]:
        """Kept copies made before `kept_at` (ISO 8601), oldest first."""
        return await self._db.read(functools.partial(videos.kept_before, kept_at, limit))

    async def mark_deleted(self, task_id: str, reason: str) -> bool:
        """Record a kept copy deleted, and why."""
        return await self._db.write(functools.partial(videos.mark_deleted, task_id, reason))

    async def next_due_at(self) -> float | None:
        """When the earliest pending copy falls due."""
        return await self._db.read(videos.next_due_at)


class Sealed:
    """Values sealed with the secret key: the key check, and re-sealing for a rotation."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def key_check(self) -> str | None:
        """The sealed key check, or None if no start has written one yet."""
        return await self._db.read(sealed.key_check)

    async def set_key_check(self, value: str, replace: bool = False) -> None:
        """Write the key check (kept if one is there, unless `replace`)."""
        await self._db.write(functools.partial(sealed.set_key_check, value, replace))

    async def any_value(self) -> str | None:
        """One sealed value the database holds, if any."""
        return await self._db.read(sealed.any_sealed)

    async def page(self, column: SealedColumn, after: Any, limit: int) -> list[dict[str, Any]]:
        """The next sealed values of `column` after key `after`."""
        return await self._db.read(functools.partial(sealed.sealed_page, column, after, limit))

    async def reseal(self, column: SealedColumn, changes: Sequence[Resealed]) -> int:
        """Put each new value in place of its old one, where still there; returns how many."""
        return await self._db.write(functools.partial(sealed.reseal, column, changes))


class Sessions:
    """Dashboard sessions ended by signing out (store/plans/sessions.py)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def end(self, sid: str, expires_at: float) -> None:
        """Refuse this session from now on, in every process, until it would expire."""
        await self._db.write(functools.partial(sessions.end, sid, expires_at, time.time()))

    async def is_ended(self, sid: str) -> bool:
        """Whether the session was ended by signing out."""
        return await self._db.read(functools.partial(sessions.is_ended, sid))


class Retention:
    """Old events, attempts and inbound messages, counted and deleted in batches."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def count_old(self, kept: Kept, cutoff: str) -> int:
        """How many rows of `kept` are older than `cutoff` (ISO 8601 UTC)."""
        return await self._db.read(functools.partial(retention.count_old, kept, cutoff))

    async def delete_old(self, kept: Kept, cutoff: str, limit: int) -> int:
        """Delete the rows past `cutoff` among the oldest `limit`; how many."""
        return await self._db.write(functools.partial(retention.delete_old, kept, cutoff, limit))


class Destinations:
    """Registered destinations (store/plans/destinations.py)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, registration: Registration) -> DestinationRow:
        """Register a destination; DestinationNameTaken."""
        return await self._db.write(functools.partial(destinations.insert, registration))

    async def all(self) -> list[DestinationRow]:
        """Every registered destination, by name."""
        return await self._db.read(destinations.select)

    async def get(self, destination_id: int) -> DestinationRow:
        """One registered destination; DestinationNotFound."""
        return await self._db.read(functools.partial(destinations.fetch, destination_id))

    async def change(self, destination_id: int, changes: dict[str, Any]) -> DestinationRow:
        """Change some of its columns; DestinationNotFound, DestinationNameTaken."""
        return await self._db.write(
            functools.partial(destinations.update, destination_id, changes)
        )

    async def resume(self, destination_id: int) -> DestinationRow:
        """Send to it again (not paused, not disabled); DestinationNotFound."""
        return await self._db.write(functools.partial(destinations.resume, destination_id))

    async def delete(self, destination_id: int) -> None:
        """Delete it (its history stays); DestinationNotFound."""
        await self._db.write(functools.partial(destinations.delete, destination_id))

    async def sync_managed(self, managed_by: str, wanted: Sequence[Registration]) -> list[str]:
        """Make the destinations `managed_by` exactly `wanted`; the names added."""
        return await self._db.write(
            functools.partial(destinations.sync_managed, managed_by, tuple(wanted))
        )


class Alerts:
    """The operator's alerts: claimed, sent and retried (store/plans/alerts.py)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self, now: float, stale_before: float, owner: str, limit: int = 20
    ) -> list[AlertRow]:
        """Take due alerts for `owner`."""
        return await self._db.write(
            functools.partial(alerts.claim, now, stale_before, owner, limit)
        )

    async def settle(
        self, alert_id: int, owner: str, error: str | None, next_attempt_at: float | None
    ) -> bool:
        """Record an attempt: sent, due again, or dead."""
        return await self._db.write(
            functools.partial(alerts.settle, alert_id, owner, error, next_attempt_at)
        )

    async def recent(self, limit: int = 50) -> list[AlertRow]:
        """Alerts newest first."""
        return await self._db.read(functools.partial(alerts.recent, limit))
