"""The submission queue's table side: in-flight slots per provider and held submissions.

A submission held back by a provider's in-flight cap or a busy answer waits in
`submit_state = 'pending'` with its request sealed in `held_request`; a claim marks it `sending`,
the provider's answer `sent`.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from typing import Any

from store.reader import Reader
from store.states import UNFINISHED_SQL
from store.writer import Writer

IN_FLIGHT = f"submit_state IN ('sending', 'sent') AND status IN {UNFINISHED_SQL}"


def claim_slot(conn: sqlite3.Connection, task_id: str, provider: str, cap: int) -> bool:
    """Mark the task `sending` if the provider has a free slot and no earlier task is waiting."""
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
        "UPDATE tasks SET submit_state = 'sending', held_request = NULL, submit_after = NULL"
        " WHERE id = ? AND status = 'queued' AND submit_state = 'pending'",
        (task_id,),
    )
    return claimed.rowcount == 1


def hold(conn: sqlite3.Connection, task_id: str, sealed: str, submit_after: float) -> None:
    """Keep the sealed request until a slot frees and `submit_after` has passed."""
    conn.execute(
        "UPDATE tasks SET submit_state = 'pending', held_request = ?, submit_after = ?"
        " WHERE id = ?",
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

    async def claim_slot(self, task_id: str, provider: str, cap: int) -> bool:
        """Take an in-flight slot of the provider for the task (cap 0: no cap)."""
        return await self._writer.run(
            functools.partial(claim_slot, task_id=task_id, provider=provider, cap=cap)
        )

    async def hold(self, task_id: str, sealed: str, submit_after: float) -> None:
        """Hold a submission, sealed, until `submit_after` and a free slot."""
        await self._writer.run(
            functools.partial(hold, task_id=task_id, sealed=sealed, submit_after=submit_after)
        )

    async def held(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        """Held submissions that may be tried now, oldest first."""
        return await self._reader.run(functools.partial(held, now=now, limit=limit))

    async def interrupted(self) -> list[dict[str, Any]]:
        """Tasks whose send was cut off by a stop."""
        return await self._reader.run(interrupted_sends)


def interrupted_sends(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Unfinished tasks whose send was under way (or never began) when reelhook stopped."""
    rows = conn.execute(
        "SELECT id, provider FROM tasks WHERE status = 'queued' AND provider_task_id IS NULL"
        " AND (submit_state = 'sending' OR (submit_state = 'pending' AND held_request IS NULL))"
    ).fetchall()
    return [dict(row) for row in rows]
