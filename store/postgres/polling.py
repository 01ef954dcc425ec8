"""The poll schedule and the submission queue's slots on PostgreSQL.

Polls and queued submits are claimed under a lease with an owner id (due polls with FOR UPDATE
SKIP LOCKED), and a provider's in-flight cap is counted under a transaction-scoped advisory lock
per provider, so the cap holds across every process sharing the database.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from store.interface import SLOTS
from store.models import NewTask
from store.postgres.tasks import announce, fetch_task, insert_task

Run = Callable[[Callable[[asyncpg.Connection], Awaitable[Any]]], Awaitable[Any]]
UNFINISHED = "('queued', 'running')"
IN_FLIGHT = f"submit_state IN ('sending', 'sent') AND status IN {UNFINISHED}"
_POLL_COLUMNS = (
    "id, provider, provider_task_id, status, progress, video_url, next_poll_at, poll_attempts,"
    " last_event_at, deadline_at"
)
_DUE_POLLS = (
    f"SELECT {_POLL_COLUMNS} FROM tasks WHERE status IN {UNFINISHED} AND submit_state = 'sent'"
    " AND provider_task_id IS NOT NULL AND provider = ANY($2)"
    " AND (next_poll_at IS NULL OR next_poll_at <= $1) ORDER BY next_poll_at NULLS FIRST"
    " LIMIT $3"
)


class PgPolls:
    """The poll schedule; `tx` runs a function in a transaction of its own."""

    def __init__(self, tx: Run, read: Run) -> None:
        self._tx = tx
        self._read = read

    async def due(self, now: float, providers: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Tasks whose poll is due (or not yet scheduled)."""
        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            return [dict(r) for r in await conn.fetch(_DUE_POLLS, now, list(providers), limit)]

        rows: list[dict[str, Any]] = await self._read(run)
        return rows

    async def claim_due(
        self, now: float, providers: Sequence[str], limit: int, owner: str, lease: float
    ) -> list[dict[str, Any]]:
        """Take due polls for `owner`, skipping rows another process is claiming; each is pushed
        `lease` seconds on. The rows are returned as they were before the claim."""
        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                f"WITH due AS ({_DUE_POLLS} FOR UPDATE SKIP LOCKED)"
                " UPDATE tasks t SET next_poll_at = $4, claim_owner = $5, claim_expires_at = $4"
                " FROM due WHERE t.id = due.id RETURNING "
                + ", ".join(f"due.{c.strip()}" for c in _POLL_COLUMNS.split(",")),
                now, list(providers), limit, now + lease, owner,
            )
            return [dict(row) for row in rows]

        claimed: list[dict[str, Any]] = await self._tx(run)
        return claimed

    async def schedule(
        self, task_id: str, next_poll_at: float, attempts: int, deadline_at: float | None = None
    ) -> None:
        """Set the next poll (and, the first time, the deadline); the claim ends."""
        async def run(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "UPDATE tasks SET next_poll_at = $1, poll_attempts = $2, claim_owner = NULL,"
                " claim_expires_at = NULL, deadline_at = COALESCE(deadline_at, $3) WHERE id = $4",
                next_poll_at, attempts, deadline_at, task_id,
            )

        await self._tx(run)


class PgSubmits:
    """In-flight slots and held submissions; `tx` runs a function in a transaction of its own."""

    def __init__(self, tx: Run, read: Run) -> None:
        self._tx = tx
        self._read = read

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
        """Mark the task `sending` by `owner` if the provider has a free slot (cap 0: no cap) and
        no earlier task is waiting; the count is taken under the provider's advisory lock. With
        `keep_sealed` the sealed request stays until the provider's answer is recorded."""
        claimed: bool = await self._tx(functools.partial(
            claim, task_id=task_id, provider=provider, cap=cap, keep_sealed=keep_sealed,
            owner=owner, lease=lease,
        ))
        return claimed

    async def hold(self, task_id: str, sealed: str, submit_after: float) -> None:
        """Keep the sealed request until a slot frees and `submit_after` has passed."""
        await self._tx(functools.partial(
            hold_row, task_id=task_id, sealed=sealed, submit_after=submit_after
        ))

    async def resend(self, task_id: str) -> bool:
        """Hold an interrupted send, whose request is still sealed, to be made again now."""
        async def run(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(
                "UPDATE tasks SET submit_state = 'pending', submit_after = $1,"
                " claim_owner = NULL, claim_expires_at = NULL WHERE id = $2"
                " AND status = 'queued' AND submit_state = 'sending'"
                " AND held_request IS NOT NULL",
                time.time(), task_id,
            )
            if status != "UPDATE 1":
                return False
            await announce(conn, SLOTS)
            return True

        held_again: bool = await self._tx(run)
        return held_again

    async def held(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        """Held submissions ready to try again, oldest first."""
        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                "SELECT id, provider, held_request FROM tasks WHERE submit_state = 'pending'"
                " AND held_request IS NOT NULL AND status = 'queued'"
                " AND (submit_after IS NULL OR submit_after <= $1) ORDER BY id LIMIT $2",
                now, limit,
            )
            return [dict(row) for row in rows]

        rows: list[dict[str, Any]] = await self._read(run)
        return rows

    async def interrupted(
        self, now: float | None = None, grace: float = 60.0
    ) -> list[dict[str, Any]]:
        """Unfinished tasks whose send was cut off: claimed by a process whose lease ran out, or
        recorded more than `grace` seconds ago and never claimed or held."""
        moment = time.time() if now is None else now

        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                "SELECT id, provider, held_request IS NOT NULL AS sealed FROM tasks"
                " WHERE status = 'queued' AND provider_task_id IS NULL"
                " AND ((submit_state = 'sending' AND COALESCE(claim_expires_at, 0) < $1)"
                " OR (submit_state = 'pending' AND held_request IS NULL"
                " AND last_event_at < $2))",
                moment, moment - grace,
            )
            return [dict(row) for row in rows]

        rows: list[dict[str, Any]] = await self._read(run)
        return rows


async def claim(
    conn: asyncpg.Connection,
    task_id: str,
    provider: str,
    cap: int,
    keep_sealed: bool,
    owner: str,
    lease: float,
) -> bool:
    """In the caller's transaction: mark the task `sending` by `owner` if the provider has a free
    slot and no earlier task is waiting (counted under the provider's advisory lock)."""
    if cap > 0:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('reelhook:slots:' || $1))", provider
        )
        busy = await conn.fetchval(
            f"SELECT count(*) FROM tasks WHERE provider = $1 AND {IN_FLIGHT} AND id != $2",
            provider, task_id,
        )
        waiting = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE provider = $1"
            " AND submit_state = 'pending' AND held_request IS NOT NULL"
            " AND status = 'queued' AND id < $2"
            " AND (submit_after IS NULL OR submit_after <= $3))",
            provider, task_id, time.time(),
        )
        if busy >= cap or waiting:
            return False
    # Only a task still waiting to be sent: one cancelled (or claimed) meanwhile is left alone.
    status = await conn.execute(
        "UPDATE tasks SET submit_state = 'sending', submit_after = NULL,"
        " held_request = CASE WHEN $1 THEN held_request END,"
        " claim_owner = $2, claim_expires_at = $3"
        " WHERE id = $4 AND status = 'queued' AND submit_state = 'pending'",
        keep_sealed, owner, time.time() + lease, task_id,
    )
    return bool(status == "UPDATE 1")


async def hold_row(
    conn: asyncpg.Connection, task_id: str, sealed: str, submit_after: float
) -> None:
    """In the caller's transaction: keep the sealed request until a slot frees and
    `submit_after` has passed."""
    await conn.execute(
        "UPDATE tasks SET submit_state = 'pending', held_request = $1, submit_after = $2,"
        " claim_owner = NULL, claim_expires_at = NULL WHERE id = $3",
        sealed, submit_after, task_id,
    )
    await announce(conn, SLOTS)


async def insert_and_claim(
    conn: asyncpg.Connection,
    new: NewTask,
    cap: int,
    seal: Callable[[], str],
    keep_sealed: bool,
    owner: str,
    lease: float,
) -> tuple[dict[str, Any], bool, bool]:
    """Record a new task and, in the same transaction, take a slot for it or hold it sealed:
    (task, created, claimed). A submit is thus recorded whole, ready to send, or not at all."""
    task, created = await insert_task(conn, new)
    if not created:
        return task, False, False
    if keep_sealed:
        await conn.execute("UPDATE tasks SET held_request = $1 WHERE id = $2", seal(), new.id)
    if await claim(conn, new.id, new.provider, cap, keep_sealed, owner, lease):
        return await fetch_task(conn, new.id), True, True
    await hold_row(conn, new.id, seal(), time.time())
    return task, True, False
