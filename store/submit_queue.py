"""The submission queue's table side: in-flight slots per provider and held submissions.

A submission held back by a provider's in-flight cap or a busy answer waits in
`submit_state = 'pending'` with its request sealed in `held_request`; a claim marks it `sending`,
the provider's answer `sent`.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from store.models import NewTask
from store.queries import fetch_task, insert_task
from store.reader import Reader
from store.schema import connect
from store.states import UNFINISHED_SQL
from store.writer import Writer

IN_FLIGHT = f"submit_state IN ('sending', 'sent') AND status IN {UNFINISHED_SQL}"


def claim_slot(
    conn: sqlite3.Connection,
    task_id: str,
    provider: str,
    cap: int,
    keep_sealed: bool = False,
    *,
    owner: str = "",
    lease: float = 60.0,
) -> bool:
    """Mark the task `sending` by `owner` for `lease` seconds if the provider has a free slot and
    no earlier task is waiting. With `keep_sealed` the sealed request stays until the provider's
    answer is recorded, so a send cut off by a stop can be made again (providers that honour an
    Idempotency-Key)."""
    if cap > 0:
        busy = conn.execute(
            f"SELECT count(*) FROM tasks WHERE provider = ? AND {IN_FLIGHT} AND id != ?",
            (provider, task_id),
        ).fetchone()[0]
        waiting = conn.execute(
            "SELECT count(*) FROM tasks WHERE provider = ? AND submit_state = 'pending'"
            " AND held_request IS NOT NULL AND status = 'queued' AND id < ?"
            " AND (submit_after IS NULL OR submit_after <= ?)",
            (provider, task_id, time.time()),
        ).fetchone()[0]
        if busy >= cap or waiting:
            return False
    # Only a task still waiting to be sent: one cancelled (or claimed) meanwhile is left alone.
    claimed = conn.execute(
        "UPDATE tasks SET submit_state = 'sending', submit_after = NULL,"
        " held_request = CASE WHEN ? THEN held_request END,"
        " claim_owner = ?, claim_expires_at = ?"
        " WHERE id = ? AND status = 'queued' AND submit_state = 'pending'",
        (keep_sealed, owner, time.time() + lease, task_id),
    )
    return claimed.rowcount == 1


def insert_and_claim(
    conn: sqlite3.Connection,
    new: NewTask,
    cap: int,
    seal: Callable[[], str],
    keep_sealed: bool,
    owner: str = "",
    lease: float = 60.0,
) -> tuple[dict[str, Any], bool, bool]:
    """Record a new task and, in the same transaction, take a slot for it (for `owner` under
    `lease`) or hold it sealed: (task, created, claimed). A submit is thus recorded whole, ready
    to send, or not at all."""
    task, created = insert_task(conn, new)
    if not created:
        return task, False, False
    if keep_sealed:
        conn.execute("UPDATE tasks SET held_request = ? WHERE id = ?", (seal(), new.id))
    if claim_slot(conn, new.id, new.provider, cap, keep_sealed, owner=owner, lease=lease):
        return fetch_task(conn, new.id), True, True
    hold(conn, new.id, seal(), time.time())
    return task, True, False


def resend(conn: sqlite3.Connection, task_id: str) -> bool:
    """Hold an interrupted send, whose request is still sealed, to be made again now."""
    held = conn.execute(
        "UPDATE tasks SET submit_state = 'pending', submit_after = ?, claim_owner = NULL,"
        " claim_expires_at = NULL WHERE id = ?"
        " AND status = 'queued' AND submit_state = 'sending' AND held_request IS NOT NULL",
        (time.time(), task_id),
    )
    return held.rowcount == 1


def hold(conn: sqlite3.Connection, task_id: str, sealed: str, submit_after: float) -> None:
    """Keep the sealed request until a slot frees and `submit_after` has passed."""
    conn.execute(
        "UPDATE tasks SET submit_state = 'pending', held_request = ?, submit_after = ?,"
        " claim_owner = NULL, claim_expires_at = NULL WHERE id = ?",
        (sealed, submit_after, task_id),
    )


def held(conn: sqlite3.Connection, now: float, limit: int) -> list[dict[str, Any]]:
    """Held submissions ready to try again, oldest first."""
    rows = conn.execute(
        "SELECT id, provider, held_request FROM tasks WHERE submit_state = 'pending'"
        " AND held_request IS NOT NULL AND status = 'queued'"
        " AND (submit_after IS NULL OR submit_after <= ?) ORDER BY id LIMIT ?",
        (now, limit),
    ).fetchall()
    return [dict(row) for row in rows]


class SubmitSlots:
    """In-flight slots and held submissions, through the store's reader and writer threads."""

    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

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
        """Take an in-flight slot of the provider for the task (cap 0: no cap), for `owner`
        under a lease of `lease` seconds."""
        return await self._writer.run(functools.partial(
            claim_slot, task_id=task_id, provider=provider, cap=cap, keep_sealed=keep_sealed,
            owner=owner, lease=lease,
        ))

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
        """Record a task and claim its send (or hold it) in one commit: (task, new, claimed)."""
        return await self._writer.run(functools.partial(
            insert_and_claim, new=new, cap=cap, seal=seal, keep_sealed=keep_sealed,
            owner=owner, lease=lease,
        ))

    async def resend(self, task_id: str) -> bool:
        """Make an interrupted send again (its request is still sealed)."""
        return await self._writer.run(functools.partial(resend, task_id=task_id))

    async def hold(self, task_id: str, sealed: str, submit_after: float) -> None:
        """Hold a submission, sealed, until `submit_after` and a free slot."""
        await self._writer.run(
            functools.partial(hold, task_id=task_id, sealed=sealed, submit_after=submit_after)
        )

    async def held(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        """Held submissions that may be tried now, oldest first."""
        return await self._reader.run(functools.partial(held, now=now, limit=limit))

    async def interrupted(
        self, now: float | None = None, grace: float = 60.0
    ) -> list[dict[str, Any]]:
        """Tasks whose send was cut off: their claim's lease ran out (see `interrupted_sends`)."""
        moment = time.time() if now is None else now
        return await self._reader.run(
            functools.partial(interrupted_sends, now=moment, grace=grace)
        )


def interrupted_sends(conn: sqlite3.Connection, now: float, grace: float) -> list[dict[str, Any]]:
    """Unfinished tasks whose send was cut off: claimed for sending by a process whose lease ran
    out, or recorded more than `grace` seconds ago and never claimed or held at all. A claim a
    live process still holds is never among them."""
    rows = conn.execute(
        "SELECT id, provider, held_request IS NOT NULL AS sealed FROM tasks"
        " WHERE status = 'queued' AND provider_task_id IS NULL"
        " AND ((submit_state = 'sending' AND COALESCE(claim_expires_at, 0) < ?)"
        " OR (submit_state = 'pending' AND held_request IS NULL AND last_event_at < ?))",
        (now, now - grace),
    ).fetchall()
    return [dict(row) for row in rows]


def end_claims_of(path: str, owner: str) -> int:
    """End every task claim `owner` holds in the SQLite file at `path` (that process is known
    to be gone), so they are taken over now rather than when their lease runs out."""
    conn = connect(path)
    try:
        with conn:
            ended = conn.execute(
                "UPDATE tasks SET claim_expires_at = 0 WHERE claim_owner = ?", (owner,)
            )
        return int(ended.rowcount)
    finally:
        conn.close()
