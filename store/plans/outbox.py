"""The outbox: deliveries of notices, their claims by workers, and the record of every attempt.

A delivery is `pending` (waiting for `next_attempt_at`), `sending` (claimed by a worker at
`claimed_at`), `delivered` or `dead`. A claim older than the lease is taken over by any worker,
which is how a crashed worker's sends are resumed; on PostgreSQL rows another worker is claiming
are skipped (FOR UPDATE SKIP LOCKED), so any number of processes share the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from store.errors import DeliveryBusy, DeliveryNotFound, DeliveryStopped
from store.interface import DELIVERIES
from store.models import NO_POLICY, HealthPolicy, iso_from_epoch, utc_now_iso
from store.plans import health
from store.rows import Delivery, DueDelivery, SendableDelivery
from store.sql import Announce, Dialects, Plan, count, many, row, rows, value, where

DELIVERY_STATUSES = ("pending", "sending", "delivered", "dead")
# The statuses from which a delivery may be sent again (redelivery).
REDELIVERABLE = ("delivered", "dead")
# What a delivery becomes after an attempt with each outcome.
STATUS_AFTER = {"delivered": "delivered", "retrying": "pending", "dead": "dead", "gone": "dead"}


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt at a delivery and what follows from it.

    `outcome` is delivered, retrying (then `next_attempt_at` is set), dead or gone.
    """

    delivery_id: int
    started_at: float
    duration_ms: float
    outcome: str
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: float | None = None


DUE_PENDING = "status = 'pending' AND next_attempt_at <= :now"
DUE_STALE = "status = 'sending' AND claimed_at < :stale_before"
_DUE = f"(({DUE_PENDING}) OR ({DUE_STALE}))"
_ROUTE_DISABLED = (
    "(SELECT x.disabled_reason FROM destinations x WHERE x.route_key = s.route_key"
    " AND x.disabled_reason IS NOT NULL LIMIT 1) AS route_disabled"
)
# A registered destination paused or deleted while a delivery of it was waiting or in flight.
_STOPPED = (
    "CASE WHEN s.deleted_at IS NOT NULL THEN 'destination deleted'"
    " WHEN s.paused = 1 THEN 'destination paused' END AS stopped"
)
_FIRST_DUE = "SELECT id, next_attempt_at FROM deliveries WHERE {} ORDER BY next_attempt_at, id"
# Each kind of due delivery is taken in index order, at most `limit` of it, before the two are
# merged: one query over both (an OR) sorted every due delivery on every round.
DUE = (
    "SELECT d.id AS delivery_id, s.id AS destination_id, s.channel, s.route_key,"
    f" {_ROUTE_DISABLED}, {_STOPPED} FROM"
    f" (SELECT * FROM ({_FIRST_DUE.format(DUE_PENDING)} LIMIT :limit) AS pending"
    f" UNION ALL SELECT * FROM ({_FIRST_DUE.format(DUE_STALE)} LIMIT :limit) AS stale) AS due"
    " JOIN deliveries d ON d.id = due.id JOIN destinations s ON s.id = d.destination_id"
    " ORDER BY due.next_attempt_at, due.id LIMIT :limit"
)
SENDABLE = (
    "SELECT d.id AS delivery_id, d.task_id, d.state, d.attempts, d.cycle_start,"
    " d.created_at AS queued_at,"
    " s.id AS destination_id, s.channel, s.target, s.label, s.route_key,"
    f" {_ROUTE_DISABLED},"
    " t.provider, t.model, t.provider_task_id, t.status, t.progress, t.video_url, t.error,"
    " t.cost_usd, t.created_at, t.updated_at, t.metadata, t.request, t.video_status,"
    " t.video_bytes, t.video_sha256, t.video_content_type, t.video_kept_at, t.video_expires_at,"
    " t.video_error"
    " FROM deliveries d JOIN destinations s ON s.id = d.destination_id"
    " JOIN tasks t ON t.id = d.task_id WHERE d.id = ANY(:ids)"
)
_CLAIM_SET = "SET status = 'sending', claimed_at = :now, claim_owner = :owner, updated_at = :iso"
CLAIM = Dialects(
    # NOT INDEXED keeps SQLite on the rowid: from about 20 ids on it chose the status index for
    # the OR of _DUE instead and walked every due delivery (a claim cost grew with the backlog).
    sqlite=f"UPDATE deliveries NOT INDEXED {_CLAIM_SET} WHERE id IN"
    f" (SELECT value FROM json_each(:ids)) AND {_DUE} RETURNING id",
    postgres=f"UPDATE deliveries {_CLAIM_SET} WHERE id IN (SELECT id FROM deliveries"
    f" WHERE id = ANY(:ids) AND {_DUE} FOR UPDATE SKIP LOCKED) RETURNING id",
)
RELEASE = (
    "UPDATE deliveries SET status = 'pending', claimed_at = NULL, claim_owner = NULL"
    " WHERE id = ANY(:ids) AND status = 'sending' AND claim_owner = :owner"
)
RENEW = (
    "UPDATE deliveries SET claimed_at = :now"
    " WHERE id = ANY(:ids) AND status = 'sending' AND claim_owner = :owner RETURNING id"
)
INSERT_ATTEMPT = (
    "INSERT INTO attempts (delivery_id, started_at, duration_ms, status_code, error, outcome)"
    " VALUES (:delivery_id, :started_at, :duration_ms, :status_code, :error, :outcome)"
)
MOVE_ON = (
    "UPDATE deliveries SET status = :status, attempts = attempts + 1,"
    " next_attempt_at = :next_attempt_at, last_error = :error, claimed_at = NULL,"
    " claim_owner = NULL, updated_at = :now,"
    " delivered_at = CASE WHEN :status = 'delivered' THEN :now ELSE delivered_at END"
    " WHERE id = :delivery_id AND status = 'sending' AND claim_owner = :owner"
)
# An attempt recorded after its claim was taken over still happened: it counts, and moves
# nothing (the worker holding the claim now decides what comes next).
COUNT_ONLY = (
    "UPDATE deliveries SET attempts = attempts + 1, updated_at = :now WHERE id = :delivery_id"
    " AND NOT (status = 'sending' AND claim_owner = :owner)"
)


# The same, leaving out the routes given: a route at its fair share could fill every read.
_NOT_FULL = (" AND destination_id NOT IN (SELECT id FROM destinations"
             " WHERE route_key = ANY(:full))")
DUE_SKIPPING = DUE.replace(DUE_PENDING, DUE_PENDING + _NOT_FULL).replace(
    DUE_STALE, DUE_STALE + _NOT_FULL)


def select_due(
    now: float, stale_before: float, limit: int, skip_routes: Sequence[str] = ()
) -> Plan[list[DueDelivery]]:
    """Deliveries due now (or claimed by a worker that went quiet), but for those of
    `skip_routes`: only what choosing among them takes (id, destination, channel, route,
    whether the route is disabled or the destination stopped)."""
    if skip_routes:
        found = yield rows(DUE_SKIPPING, now=now, stale_before=stale_before, limit=limit,
                           full=list(skip_routes))
    else:
        found = yield rows(DUE, now=now, stale_before=stale_before, limit=limit)
    return found  # type: ignore[no-any-return]


def select_sendable(ids: Sequence[int]) -> Plan[list[SendableDelivery]]:
    """These deliveries with what sending them takes: destination and task, as they are now."""
    if not ids:
        return []
    found = yield rows(SENDABLE, ids=list(ids))
    return found  # type: ignore[no-any-return]


def claim(
    ids: Sequence[int], owner: str, now: float, stale_before: float
) -> Plan[list[int]]:
    """Mark the deliveries as being sent by `owner`, in one statement; return those nobody else
    took first, in the order given."""
    if not ids:
        return []
    taken = yield rows(
        CLAIM, ids=list(ids), now=now, owner=owner, iso=iso_from_epoch(now),
        stale_before=stale_before,
    )
    held = {int(found["id"]) for found in taken}
    return [delivery_id for delivery_id in ids if delivery_id in held]


def claim_rows(
    ids: Sequence[int], owner: str, now: float, stale_before: float
) -> Plan[tuple[list[int], list[SendableDelivery]]]:
    """Claim the deliveries (see `claim`) and read the claimed ones for sending, in one
    transaction: the ids taken, in the order given, and their rows as they now are."""
    claimed = yield from claim(ids, owner, now, stale_before)
    sendable = yield from select_sendable(claimed)
    return claimed, sendable


def release(ids: Sequence[int], owner: str) -> Plan[None]:
    """Hand back claims that were not finished (the worker is stopping): pending again."""
    if ids:
        yield count(RELEASE, ids=list(ids), owner=owner)


def renew(ids: Sequence[int], owner: str, now: float) -> Plan[list[int]]:
    """Renew `owner`'s claims on these deliveries (a live worker keeps what it holds); returns
    the ids still its own."""
    if not ids:
        return []
    kept = yield rows(RENEW, ids=list(ids), owner=owner, now=now)
    return sorted(int(found["id"]) for found in kept)


def finish(
    attempts: Sequence[AttemptRecord], owner: str,
    policy: HealthPolicy = NO_POLICY,
) -> Plan[None]:
    """Record attempts, each counted on its delivery, and move the deliveries on where the
    claim is still `owner`'s; then what they mean for their routes (store/plans/health.py).

    An attempt recorded already is left out: a finish tried again after a commit that went
    through unseen (the connection died before its answer) records nothing twice."""
    attempts = yield from _not_recorded(attempts, owner)
    if not attempts:
        return
    now = utc_now_iso()
    yield many(COUNT_ONLY, (
        {"now": now, "delivery_id": a.delivery_id, "owner": owner} for a in attempts
    ))
    yield many(INSERT_ATTEMPT, (
        {"delivery_id": a.delivery_id, "started_at": iso_from_epoch(a.started_at),
         "duration_ms": round(a.duration_ms, 1), "status_code": a.status_code,
         "error": a.error, "outcome": a.outcome}
        for a in attempts
    ))
    yield many(MOVE_ON, (
        {"status": STATUS_AFTER[a.outcome], "next_attempt_at": a.next_attempt_at,
         "error": a.error, "now": now, "delivery_id": a.delivery_id, "owner": owner}
        for a in attempts
    ))
    yield from health.after_attempts(attempts, policy)


def _not_recorded(attempts: Sequence[AttemptRecord], owner: str) -> Plan[list[AttemptRecord]]:
    """The attempts not recorded yet, each once. A delivery `owner` still holds as sending has
    its attempt unrecorded for sure (the recording commit releases the claim); of the others,
    one already in the attempts table (known by when it started) is a retry of that commit."""
    if not attempts:
        return []
    ids = sorted({a.delivery_id for a in attempts})
    held = yield rows(
        "SELECT id FROM deliveries WHERE id = ANY(:ids) AND status = 'sending'"
        " AND claim_owner = :owner", ids=ids, owner=owner,
    )
    held_ids = {int(found["id"]) for found in held}
    if held_ids.issuperset(ids):
        return list(attempts)
    recorded = yield rows(
        "SELECT delivery_id, started_at FROM attempts WHERE delivery_id = ANY(:ids)",
        ids=[i for i in ids if i not in held_ids],
    )
    seen = {(int(found["delivery_id"]), found["started_at"]) for found in recorded}
    fresh = []
    for attempt in attempts:
        key = (attempt.delivery_id, iso_from_epoch(attempt.started_at))
        if attempt.delivery_id in held_ids or key not in seen:
            seen.add(key)
            fresh.append(attempt)
    return fresh


Finished = tuple[Sequence[AttemptRecord], str, HealthPolicy]


def finish_many(items: Sequence[Finished]) -> Plan[list[None]]:
    """The attempts of many sends, grouped by owner and policy: one `finish` each."""
    for owner, policy in dict.fromkeys((owner, policy) for _, owner, policy in items):
        yield from finish([a for attempts, o, p in items if (o, p) == (owner, policy)
                           for a in attempts], owner, policy)
    return [None] * len(items)


def give_up(ids: Sequence[int], reason: str, now: float, stale_before: float) -> Plan[int]:
    """End these deliveries, where still due (nobody else holds them), dead with the reason;
    how many."""
    if not ids:
        return 0
    ended = yield count(
        "UPDATE deliveries SET status = 'dead', last_error = :reason, next_attempt_at = NULL,"
        f" claimed_at = NULL, claim_owner = NULL, updated_at = :iso WHERE id = ANY(:ids)"
        f" AND ({_DUE})", reason=reason, iso=iso_from_epoch(now), ids=list(ids), now=now,
        stale_before=stale_before,
    )
    return int(ended)


def disable_route(route_key: str, reason: str) -> Plan[int]:
    """Disable every destination with this route; its waiting deliveries die with the reason
    (how many)."""
    yield from health.mark_disabled(route_key, reason)
    given_up = yield from health.give_up_waiting(route_key, reason)
    return given_up


def next_due_at(lease: float | None = None) -> Plan[float | None]:
    """When the earliest pending delivery falls due (Unix seconds), or None; with `lease`, a
    claim is due too once it is that old (its worker is gone: a `tick` takes it over)."""
    earliest = yield value("SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'")
    if lease is not None:
        claimed = yield value("SELECT MIN(claimed_at) FROM deliveries WHERE status = 'sending'")
        if claimed is not None:
            stale_at = float(claimed) + lease
            earliest = stale_at if earliest is None else min(float(earliest), stale_at)
    return None if earliest is None else float(earliest)


def redeliver(delivery_id: int, now: float) -> Plan[Delivery]:
    """Send a delivered or dead delivery again: a new attempt with a fresh retry schedule.

    A destination disabled as gone is enabled again: asking for this is saying it is back.
    """
    found = yield row("SELECT * FROM deliveries WHERE id = :id FOR UPDATE", id=delivery_id)
    if found is None:
        raise DeliveryNotFound(delivery_id)
    if found["status"] not in REDELIVERABLE:
        raise DeliveryBusy(f"delivery {delivery_id} is {found['status']}; it will be sent anyway")
    destination = yield row(
        "SELECT name, route_key, paused, deleted_at FROM destinations WHERE id = :id",
        id=found["destination_id"],
    )
    _refuse_stopped(delivery_id, found["destination_id"], destination)
    yield count(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = :at, cycle_start = attempts,"
        " claimed_at = NULL, claim_owner = NULL, updated_at = :now WHERE id = :id",
        at=now, now=iso_from_epoch(now), id=delivery_id,
    )
    route = destination["route_key"] if destination is not None else None
    yield count(
        "UPDATE destinations SET disabled_reason = NULL, disabled_at = NULL"
        " WHERE id = :id OR route_key = :route", id=found["destination_id"], route=route,
    )
    if route is not None:
        yield from health.forget_failures(str(route))
    yield Announce(DELIVERIES)
    again = yield from select_deliveries(delivery_id=delivery_id)
    return again[0]


def _refuse_stopped(
    delivery_id: int, destination_id: int, destination: Mapping[str, Any] | None
) -> None:
    """DeliveryStopped when the delivery's registered destination is paused or deleted."""
    if destination is None or not (destination["paused"] or destination["deleted_at"]):
        return
    name = destination["name"] or f"destination {destination_id}"
    if destination["deleted_at"]:
        raise DeliveryStopped(f"delivery {delivery_id} cannot be sent again: its destination"
                              f" {name!r} was deleted")
    raise DeliveryStopped(f"delivery {delivery_id} cannot be sent again while its destination"
                          f" {name!r} is paused; resume it, then redeliver")


def select_deliveries(
    *,
    delivery_id: int | None = None,
    task_id: str | None = None,
    status: str | None = None,
    limit: int = 1000,
    before_id: int | None = None,
) -> Plan[list[Delivery]]:
    """Deliveries newest first, each with its destination and `attempt_log` (oldest first)."""
    clause, params = where(
        [("d.id", delivery_id), ("d.task_id", task_id), ("d.status", status)], "d.id", before_id
    )
    found = yield rows(
        "SELECT d.*, s.channel, s.label, s.name, s.disabled_reason FROM deliveries d"
        f" JOIN destinations s ON s.id = d.destination_id {clause}"
        " ORDER BY d.id DESC LIMIT :limit",
        **params, limit=limit,
    )
    deliveries = {entry["id"]: dict(entry, attempt_log=[]) for entry in found}
    if deliveries:
        attempts = yield rows(
            "SELECT delivery_id, started_at, duration_ms, status_code, error, outcome"
            " FROM attempts WHERE delivery_id = ANY(:ids) ORDER BY id", ids=list(deliveries),
        )
        for attempt in attempts:
            deliveries[attempt.pop("delivery_id")]["attempt_log"].append(attempt)
    return cast(list[Delivery], list(deliveries.values()))
