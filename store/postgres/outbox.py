"""The outbox on PostgreSQL: deliveries claimed with FOR UPDATE SKIP LOCKED under a lease, so any
number of workers in any number of processes share it and none takes another's live claim."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from store.errors import DeliveryBusy, DeliveryNotFound
from store.models import iso_from_epoch, utc_now_iso
from store.outbox import _STATUS_AFTER, AttemptRecord
from store.postgres.tasks import page_filter

Run = Callable[[Callable[[asyncpg.Connection], Awaitable[Any]]], Awaitable[Any]]
_DUE = (
    "((status = 'pending' AND next_attempt_at <= $1)"
    " OR (status = 'sending' AND claimed_at < $2))"
)

_DESTINATION_AND_TASK = (
    "s.id AS destination_id, s.channel, s.target, s.label, s.route_key,"
    " (SELECT x.disabled_reason FROM destinations x WHERE x.route_key = s.route_key"
    " AND x.disabled_reason IS NOT NULL LIMIT 1) AS route_disabled,"
    " t.provider, t.model, t.provider_task_id, t.status, t.progress, t.video_url,"
    " t.error, t.cost_usd, t.created_at, t.updated_at, t.metadata, t.request"
)
_SENDABLE = (
    "SELECT d.id AS delivery_id, d.task_id, d.state, d.attempts, d.cycle_start,"
    " d.created_at AS queued_at,"
    f" {_DESTINATION_AND_TASK} FROM deliveries d JOIN destinations s ON s.id = d.destination_id"
    " JOIN tasks t ON t.id = d.task_id"
)
# The claimed deliveries as the UPDATE left them (the statement's snapshot may predate another
# worker's attempt), with their destination and task.
_CLAIM_ROWS = (
    "WITH claimed AS (UPDATE deliveries SET status = 'sending', claimed_at = $1,"
    " claim_owner = $3, updated_at = $4 WHERE id IN (SELECT id FROM deliveries"
    f" WHERE id = ANY($5) AND {_DUE} FOR UPDATE SKIP LOCKED)"
    " RETURNING id, task_id, state, attempts, cycle_start, destination_id, created_at)"
    " SELECT d.id AS delivery_id, d.task_id, d.state, d.attempts, d.cycle_start,"
    " d.created_at AS queued_at,"
    f" {_DESTINATION_AND_TASK} FROM claimed d JOIN destinations s ON s.id = d.destination_id"
    " JOIN tasks t ON t.id = d.task_id"
)


class PgOutbox:
    """Deliveries of notices; `tx` runs a function in a transaction of its own."""

    def __init__(self, tx: Run, read: Run) -> None:
        self._tx = tx
        self._read = read

    async def due(self, now: float, stale_before: float, limit: int) -> list[dict[str, Any]]:
        """Deliveries due now (or claimed by a worker whose lease ran out), ready to send."""
        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                f"{_SENDABLE} WHERE d.id IN (SELECT id FROM deliveries WHERE {_DUE})"
                " ORDER BY d.next_attempt_at, d.id LIMIT $3",
                now, stale_before, limit,
            )
            return [dict(row) for row in rows]

        result: list[dict[str, Any]] = await self._read(run)
        return result

    async def claim(
        self, ids: Sequence[int], owner: str, now: float, stale_before: float
    ) -> list[int]:
        """Claim the deliveries for `owner`, in the order given; rows another process holds
        locked are skipped."""
        claimed, _rows = await self.claim_rows(ids, owner, now, stale_before)
        return claimed

    async def claim_rows(
        self, ids: Sequence[int], owner: str, now: float, stale_before: float
    ) -> tuple[list[int], list[dict[str, Any]]]:
        """Claim the deliveries (see `claim`) and read those taken for sending, in one
        statement: the ids taken, in the order given, and their rows."""
        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                _CLAIM_ROWS, now, stale_before, owner, utc_now_iso(), list(ids)
            )
            return [dict(row) for row in rows]

        rows: list[dict[str, Any]] = await self._tx(run) if ids else []
        taken = {int(row["delivery_id"]) for row in rows}
        return [delivery_id for delivery_id in ids if delivery_id in taken], rows

    async def release(self, ids: Sequence[int], owner: str) -> None:
        """Hand back claims that were not finished: pending again."""
        async def run(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "UPDATE deliveries SET status = 'pending', claimed_at = NULL, claim_owner = NULL"
                " WHERE id = ANY($1) AND status = 'sending' AND claim_owner = $2",
                list(ids), owner,
            )

        await self._tx(run)

    async def finish(self, attempts: Sequence[AttemptRecord], owner: str) -> None:
        """Record attempts and move their deliveries on (if still ours), in one commit."""
        async def run(conn: asyncpg.Connection) -> None:
            await conn.executemany(
                "INSERT INTO attempts (delivery_id, started_at, duration_ms, status_code, error,"
                " outcome) VALUES ($1, $2, $3, $4, $5, $6)",
                [(a.delivery_id, iso_from_epoch(a.started_at), round(a.duration_ms, 1),
                  a.status_code, a.error, a.outcome) for a in attempts],
            )
            now = utc_now_iso()
            await conn.executemany(
                "UPDATE deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2,"
                " last_error = $3, claimed_at = NULL, claim_owner = NULL, updated_at = $4,"
                " delivered_at = CASE WHEN $5 = 'delivered' THEN $4 ELSE delivered_at END"
                " WHERE id = $6 AND status = 'sending' AND claim_owner = $7",
                [(_STATUS_AFTER[a.outcome], a.next_attempt_at, a.error, now, a.outcome,
                  a.delivery_id, owner) for a in attempts],
            )

        await self._tx(run)

    async def disable_route(self, route_key: str, reason: str) -> int:
        """Disable every destination with this route; its waiting deliveries die."""
        async def run(conn: asyncpg.Connection) -> int:
            await conn.execute(
                "UPDATE destinations SET disabled_reason = $1 WHERE route_key = $2"
                " AND disabled_reason IS NULL", reason, route_key,
            )
            status = await conn.execute(
                "UPDATE deliveries SET status = 'dead', last_error = $1, next_attempt_at = NULL,"
                " updated_at = $2 WHERE status = 'pending' AND destination_id IN"
                " (SELECT id FROM destinations WHERE route_key = $3)",
                reason, utc_now_iso(), route_key,
            )
            return int(status.split()[-1])

        count: int = await self._tx(run)
        return count

    async def next_due_at(self) -> float | None:
        """When the earliest pending delivery falls due (Unix seconds), or None."""
        async def run(conn: asyncpg.Connection) -> float | None:
            value = await conn.fetchval(
                "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'"
            )
            return None if value is None else float(value)

        result: float | None = await self._read(run)
        return result

    async def redeliver(self, delivery_id: int, now: float) -> dict[str, Any]:
        """Queue a delivered or dead delivery again; DeliveryNotFound, DeliveryBusy."""
        async def run(conn: asyncpg.Connection) -> dict[str, Any]:
            row = await conn.fetchrow(
                "SELECT * FROM deliveries WHERE id = $1 FOR UPDATE", delivery_id
            )
            if row is None:
                raise DeliveryNotFound(delivery_id)
            if row["status"] not in ("delivered", "dead"):
                raise DeliveryBusy(
                    f"delivery {delivery_id} is {row['status']}; it will be sent anyway"
                )
            await conn.execute(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = $1,"
                " cycle_start = attempts, claimed_at = NULL, claim_owner = NULL, updated_at = $2"
                " WHERE id = $3", now, utc_now_iso(), delivery_id,
            )
            await conn.execute(
                "UPDATE destinations SET disabled_reason = NULL WHERE id = $1 OR route_key ="
                " (SELECT route_key FROM destinations WHERE id = $1)", row["destination_id"],
            )
            await conn.execute("SELECT pg_notify('reelhook_deliveries', '')")
            return (await select_deliveries(conn, delivery_id=delivery_id))[0]

        result: dict[str, Any] = await self._tx(run)
        return result

    async def deliveries(self, **filters: Any) -> list[dict[str, Any]]:
        """Deliveries newest first with their attempts."""
        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            return await select_deliveries(conn, **filters)

        result: list[dict[str, Any]] = await self._read(run)
        return result


async def select_deliveries(
    conn: asyncpg.Connection,
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
    rows = await conn.fetch(
        "SELECT d.*, s.channel, s.label, s.disabled_reason FROM deliveries d"
        f" JOIN destinations s ON s.id = d.destination_id {where} ORDER BY d.id DESC"
        f" LIMIT ${len(params) + 1}", *params, limit,
    )
    deliveries = {row["id"]: dict(row, attempt_log=[]) for row in rows}
    if deliveries:
        attempts = await conn.fetch(
            "SELECT delivery_id, started_at, duration_ms, status_code, error, outcome"
            " FROM attempts WHERE delivery_id = ANY($1) ORDER BY id", list(deliveries),
        )
        for attempt in attempts:
            entry = dict(attempt)
            deliveries[entry.pop("delivery_id")]["attempt_log"].append(entry)
    return list(deliveries.values())
