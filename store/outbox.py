"""The outbox: deliveries of notices, their claims by workers, and the record of every attempt.

A delivery is `pending` (waiting for `next_attempt_at`), `sending` (claimed by a worker at
`claimed_at`), `delivered` or `dead`. A claim older than the lease is taken over by any worker,
which is how a crashed worker's sends are resumed.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from store.errors import DeliveryBusy, DeliveryNotFound
from store.models import iso_from_epoch, utc_now_iso
from store.queries import page_filter
from store.reader import Reader
from store.rows import as_dicts
from store.writer import Writer

DELIVERY_STATUSES = ("pending", "sending", "delivered", "dead")
# The statuses from which a delivery may be sent again (redelivery).
REDELIVERABLE = ("delivered", "dead")
_STATUS_AFTER = {"delivered": "delivered", "retrying": "pending", "dead": "dead", "gone": "dead"}
_DUE_PENDING = "status = 'pending' AND next_attempt_at <= :now"
_DUE_STALE = "status = 'sending' AND claimed_at < :stale_before"
_DUE = f"(({_DUE_PENDING}) OR ({_DUE_STALE}))"


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


_ROUTE_DISABLED = (
    "(SELECT x.disabled_reason FROM destinations x WHERE x.route_key = s.route_key"
    " AND x.disabled_reason IS NOT NULL LIMIT 1) AS route_disabled"
)


def select_due(
    conn: sqlite3.Connection, now: float, stale_before: float, limit: int
) -> list[dict[str, Any]]:
    """Deliveries due now (or claimed by a worker that went quiet): only what choosing among
    them takes (id, destination, channel, route and whether the route is disabled)."""
    # Each kind of due delivery is taken in index order, at most `limit` of it, before the two
    # are merged: one query over both (an OR) sorted every due delivery on every round.
    first = "SELECT id, next_attempt_at FROM deliveries WHERE {} ORDER BY next_attempt_at, id"
    cursor = conn.execute(
        "SELECT d.id AS delivery_id, s.id AS destination_id, s.channel, s.route_key,"
        f" {_ROUTE_DISABLED} FROM"
        f" (SELECT * FROM ({first.format(_DUE_PENDING)} LIMIT :limit)"
        f" UNION ALL SELECT * FROM ({first.format(_DUE_STALE)} LIMIT :limit)) AS due"
        " JOIN deliveries d ON d.id = due.id JOIN destinations s ON s.id = d.destination_id"
        " ORDER BY due.next_attempt_at, due.id LIMIT :limit",
        {"now": now, "stale_before": stale_before, "limit": limit},
    )
    return as_dicts(cursor)


def select_sendable(conn: sqlite3.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """These deliveries with what sending them takes: destination and task, as they are now."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    cursor = conn.execute(
        "SELECT d.id AS delivery_id, d.task_id, d.state, d.attempts, d.cycle_start,"
        " d.created_at AS queued_at,"
        " s.id AS destination_id, s.channel, s.target, s.label, s.route_key,"
        f" {_ROUTE_DISABLED},"
        " t.provider, t.model, t.provider_task_id, t.status, t.progress, t.video_url, t.error,"
        " t.cost_usd, t.created_at, t.updated_at, t.metadata, t.request"
        " FROM deliveries d JOIN destinations s ON s.id = d.destination_id"
        f" JOIN tasks t ON t.id = d.task_id WHERE d.id IN ({marks})",
        list(ids),
    )
    return as_dicts(cursor)


def claim(
    conn: sqlite3.Connection, ids: Sequence[int], owner: str, now: float, stale_before: float
) -> list[int]:
    """Mark the deliveries as being sent by `owner`, in one statement; return those nobody else
    took first, in the order given."""
    if not ids:
        return []
    params: dict[str, Any] = {f"id{i}": delivery_id for i, delivery_id in enumerate(ids)}
    marks = ",".join(f":{name}" for name in params)
    params |= {"now": now, "owner": owner, "iso": utc_now_iso(), "stale_before": stale_before}
    # NOT INDEXED keeps SQLite on the rowid: from about 20 ids on it chose the status index for
    # the OR of _DUE instead and walked every due delivery (a claim cost grew with the backlog).
    taken = {
        int(row[0])
        for row in conn.execute(
            "UPDATE deliveries NOT INDEXED SET status = 'sending', claimed_at = :now,"
            f" claim_owner = :owner, updated_at = :iso WHERE id IN ({marks}) AND {_DUE}"
            " RETURNING id",
            params,
        )
    }
    return [delivery_id for delivery_id in ids if delivery_id in taken]


def claim_rows(
    conn: sqlite3.Connection, ids: Sequence[int], owner: str, now: float, stale_before: float
) -> tuple[list[int], list[dict[str, Any]]]:
    """Claim the deliveries (see `claim`) and read the claimed ones for sending, in one
    transaction: the ids taken, in the order given, and their rows."""
    claimed = claim(conn, ids, owner, now, stale_before)
    return claimed, select_sendable(conn, claimed)


def release(conn: sqlite3.Connection, ids: Sequence[int], owner: str) -> None:
    """Hand back claims that were not finished (the worker is stopping): pending again."""
    conn.executemany(
        "UPDATE deliveries SET status = 'pending', claimed_at = NULL, claim_owner = NULL"
        " WHERE id = ? AND status = 'sending' AND claim_owner = ?",
        [(delivery_id, owner) for delivery_id in ids],
    )


_INSERT_ATTEMPT = (
    "INSERT INTO attempts (delivery_id, started_at, duration_ms, status_code, error, outcome)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_MOVE_ON = (
    "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?,"
    " last_error = ?, claimed_at = NULL, claim_owner = NULL, updated_at = ?,"
    " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
    " WHERE id = ? AND status = 'sending' AND claim_owner = ?"
)


def finish(conn: sqlite3.Connection, attempts: Sequence[AttemptRecord], owner: str) -> None:
    """Record attempts and move their deliveries on, where the claim is still `owner`'s."""
    now = utc_now_iso()
    conn.executemany(_INSERT_ATTEMPT, [
        (a.delivery_id, iso_from_epoch(a.started_at), round(a.duration_ms, 1), a.status_code,
         a.error, a.outcome)
        for a in attempts
    ])
    conn.executemany(_MOVE_ON, [
        (_STATUS_AFTER[a.outcome], a.next_attempt_at, a.error, now, a.outcome, now,
         a.delivery_id, owner)
        for a in attempts
    ])


@dataclass(frozen=True)
class RecordAttempts:
    """The writer's batched job for `finish` (`store.writer.Batched`): the attempts of every
    send that ended meanwhile, written with two executemany statements in one commit."""

    def run_one(self, conn: sqlite3.Connection, item: tuple[Sequence[AttemptRecord], str]) -> None:
        """One send's attempts."""
        finish(conn, *item)

    def run_many(
        self, conn: sqlite3.Connection, items: list[tuple[Sequence[AttemptRecord], str]]
    ) -> list[None]:
        """Every send's attempts, in order (owners may differ)."""
        for owner in dict.fromkeys(owner for _, owner in items):
            finish(conn, [a for attempts, o in items if o == owner for a in attempts], owner)
        return [None] * len(items)


def disable_route(conn: sqlite3.Connection, route_key: str, reason: str) -> int:
    """Disable every destination with this route; its waiting deliveries die with the reason."""
    conn.execute(
        "UPDATE destinations SET disabled_reason = ? WHERE route_key = ?"
        " AND disabled_reason IS NULL",
        (reason, route_key),
    )
    cursor = conn.execute(
        "UPDATE deliveries SET status = 'dead', last_error = ?, next_attempt_at = NULL,"
        " updated_at = ? WHERE status = 'pending' AND destination_id IN"
        " (SELECT id FROM destinations WHERE route_key = ?)",
        (reason, utc_now_iso(), route_key),
    )
    return cursor.rowcount


def next_due_at(conn: sqlite3.Connection) -> float | None:
    """When the earliest pending delivery falls due (Unix seconds), or None."""
    row = conn.execute(
        "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'"
    ).fetchone()
    return float(row[0]) if row[0] is not None else None


def redeliver(conn: sqlite3.Connection, delivery_id: int, now: float) -> dict[str, Any]:
    """Send a delivered or dead delivery again: a new attempt with a fresh retry schedule.

    A destination disabled as gone is enabled again: asking for this is saying it is back.
    """
    row = conn.execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
    if row is None:
        raise DeliveryNotFound(delivery_id)
    if row["status"] not in REDELIVERABLE:
        raise DeliveryBusy(f"delivery {delivery_id} is {row['status']}; it will be sent anyway")
    conn.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, cycle_start = attempts,"
        " claimed_at = NULL, claim_owner = NULL, updated_at = ? WHERE id = ?",
        (now, utc_now_iso(), delivery_id),
    )
    conn.execute(
        "UPDATE destinations SET disabled_reason = NULL WHERE id = :id OR route_key ="
        " (SELECT route_key FROM destinations WHERE id = :id)", {"id": row["destination_id"]},
    )
    return select_deliveries(conn, delivery_id=delivery_id)[0]


def select_deliveries(
    conn: sqlite3.Connection,
    *,
    delivery_id: int | None = None,
    task_id: str | None = None,
    status: str | None = None,
    limit: int = 1000,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Deliveries newest first, each with its destination and `attempt_log` (oldest first)."""
    where, params = page_filter(
        [("d.id", delivery_id), ("d.task_id", task_id), ("d.status", status)], "d.id", before_id
    )
    rows = conn.execute(
        "SELECT d.*, s.channel, s.label, s.disabled_reason FROM deliveries d"
        f" JOIN destinations s ON s.id = d.destination_id {where} ORDER BY d.id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    deliveries = {row["id"]: dict(row, attempt_log=[]) for row in rows}
    for attempt in _attempts_of(conn, list(deliveries)):
        deliveries[attempt.pop("delivery_id")]["attempt_log"].append(attempt)
    return list(deliveries.values())


def _attempts_of(conn: sqlite3.Connection, delivery_ids: list[int]) -> list[dict[str, Any]]:
    """Every attempt of these deliveries, oldest first, in one query."""
    if not delivery_ids:
        return []
    marks = ",".join("?" * len(delivery_ids))
    rows = conn.execute(
        "SELECT delivery_id, started_at, duration_ms, status_code, error, outcome FROM attempts"
        f" WHERE delivery_id IN ({marks}) ORDER BY id",
        delivery_ids,
    ).fetchall()
    return [dict(row) for row in rows]


_RECORD_ATTEMPTS = RecordAttempts()


class Outbox:
    """The outbox's reads and writes, through the store's reader and writer threads."""

    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def due(self, now: float, stale_before: float, limit: int) -> list[dict[str, Any]]:
        """Deliveries due now, with what choosing among them takes."""
        return await self._reader.run(
            functools.partial(select_due, now=now, stale_before=stale_before, limit=limit)
        )

    async def claim_rows(
        self, ids: Sequence[int], owner: str, now: float, stale_before: float
    ) -> tuple[list[int], list[dict[str, Any]]]:
        """Claim deliveries and read those taken for sending, in one commit (`claim_rows`)."""
        return await self._writer.run(functools.partial(
            claim_rows, ids=ids, owner=owner, now=now, stale_before=stale_before
        ))

    async def claim(
        self, ids: Sequence[int], owner: str, now: float, stale_before: float
    ) -> list[int]:
        """Claim deliveries for sending; returns the ids this owner now holds."""
        return await self._writer.run(functools.partial(
            claim, ids=ids, owner=owner, now=now, stale_before=stale_before
        ))

    async def release(self, ids: Sequence[int], owner: str) -> None:
        """Make unfinished claims pending again."""
        await self._writer.run(functools.partial(release, ids=ids, owner=owner))

    async def finish(self, attempts: Sequence[AttemptRecord], owner: str) -> None:
        """Record attempts and move their deliveries on, in one commit."""
        await self._writer.run_batched(_RECORD_ATTEMPTS, (tuple(attempts), owner))

    async def disable_route(self, route_key: str, reason: str) -> int:
        """Disable a destination everywhere it is used; returns the deliveries given up."""
        return await self._writer.run(
            functools.partial(disable_route, route_key=route_key, reason=reason)
        )

    async def next_due_at(self) -> float | None:
        """When the next pending delivery falls due."""
        return await self._reader.run(next_due_at)

    async def redeliver(self, delivery_id: int, now: float) -> dict[str, Any]:
        """Queue a delivered or dead delivery again; DeliveryNotFound, DeliveryBusy."""
        return await self._writer.run(
            functools.partial(redeliver, delivery_id=delivery_id, now=now)
        )

    async def deliveries(self, **filters: Any) -> list[dict[str, Any]]:
        """Deliveries newest first with their attempts (see `select_deliveries`)."""
        return await self._reader.run(functools.partial(select_deliveries, **filters))
