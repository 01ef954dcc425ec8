"""The polling schedule and the submission queue, as SQL run in the reader or writer threads.

A task is polled while it is unfinished, sent, and its provider can be asked (`next_poll_at`,
`poll_attempts`, `deadline_at`). A submission held back by a provider's in-flight cap or a busy
answer waits in `submit_state = 'pending'` with its request sealed in `held_request`.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from store.models import EventIn, EventOutcome, NewTask
from store.queries import fetch_task, insert_event, insert_task
from store.reader import Reader
from store.writer import Writer

UNFINISHED = "('queued', 'running')"
IN_FLIGHT = f"submit_state IN ('sending', 'sent') AND status IN {UNFINISHED}"


def due_polls(
    conn: sqlite3.Connection, now: float, providers: Sequence[str], limit: int
) -> list[dict[str, Any]]:
    """Sent, unfinished tasks of these providers whose poll is due or not yet scheduled."""
    if not providers:
        return []
    marks = ", ".join("?" for _ in providers)
    rows = conn.execute(
        "SELECT id, provider, provider_task_id, status, progress, video_url, next_poll_at,"
        " poll_attempts, last_event_at, deadline_at FROM tasks"
        f" WHERE status IN {UNFINISHED} AND submit_state = 'sent'"
        f" AND provider_task_id IS NOT NULL AND provider IN ({marks})"
        " AND (next_poll_at IS NULL OR next_poll_at <= ?) ORDER BY next_poll_at LIMIT ?",
        (*providers, now, limit),
    ).fetchall()
    return [dict(row) for row in rows]


def set_poll(
    conn: sqlite3.Connection,
    task_id: str,
    next_poll_at: float,
    attempts: int,
    deadline_at: float | None = None,
) -> None:
    """Schedule the task's next poll; the deadline is set once and then kept."""
    conn.execute(
        "UPDATE tasks SET next_poll_at = ?, poll_attempts = ?,"
        " deadline_at = COALESCE(deadline_at, ?) WHERE id = ?",
        (next_poll_at, attempts, deadline_at, task_id),
    )


def claim_slot(
    conn: sqlite3.Connection, task_id: str, provider: str, cap: int, keep_sealed: bool = False
) -> bool:
    """Mark the task `sending` if the provider has a free slot and no earlier task is waiting.
    With `keep_sealed` the sealed request stays until the provider's answer is recorded, so a
    send cut off by a stop can be made again (providers that honour an Idempotency-Key)."""
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
        " held_request = CASE WHEN ? THEN held_request END"
        " WHERE id = ? AND status = 'queued' AND submit_state = 'pending'",
        (keep_sealed, task_id),
    )
    return claimed.rowcount == 1


def insert_and_claim(
    conn: sqlite3.Connection, new: NewTask, cap: int, seal: Callable[[], str], keep_sealed: bool
) -> tuple[dict[str, Any], bool, bool]:
    """Record a new task and, in the same transaction, take a slot for it or hold it sealed:
    (task, created, claimed). A submit is thus recorded whole, ready to send, or not at all."""
    task, created = insert_task(conn, new)
    if not created:
        return task, False, False
    if keep_sealed:
        conn.execute("UPDATE tasks SET held_request = ? WHERE id = ?", (seal(), new.id))
    if claim_slot(conn, new.id, new.provider, cap, keep_sealed):
        return fetch_task(conn, new.id), True, True
    hold(conn, new.id, seal(), time.time())
    return task, True, False


def resend(conn: sqlite3.Connection, task_id: str) -> bool:
    """Hold an interrupted send, whose request is still sealed, to be made again now."""
    held = conn.execute(
        "UPDATE tasks SET submit_state = 'pending', submit_after = ? WHERE id = ?"
        " AND status = 'queued' AND submit_state = 'sending' AND held_request IS NOT NULL",
        (time.time(), task_id),
    )
    return held.rowcount == 1


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


def cancel_unsent(
    conn: sqlite3.Connection, task_id: str, event: EventIn, notify_on: frozenset[str]
) -> EventOutcome | None:
    """Withdraw a submission nobody has started sending and record the cancel, in one step;
    None when the task is already being sent (or is not waiting at all)."""
    withdrawn = conn.execute(
        "UPDATE tasks SET submit_state = 'withdrawn', held_request = NULL, submit_after = NULL"
        " WHERE id = ? AND status = 'queued' AND submit_state = 'pending'",
        (task_id,),
    )
    if withdrawn.rowcount != 1:
        return None
    return insert_event(conn, task_id, event, notify_on)


def interrupted(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Unfinished tasks whose send was under way (or never began) when reelhook stopped."""
    rows = conn.execute(
        "SELECT id, provider, held_request IS NOT NULL AS sealed FROM tasks"
        " WHERE status = 'queued' AND provider_task_id IS NULL"
        " AND (submit_state = 'sending' OR (submit_state = 'pending' AND held_request IS NULL))"
    ).fetchall()
    return [dict(row) for row in rows]


def cost_totals(conn: sqlite3.Connection, status: str | None) -> list[dict[str, Any]]:
    """Per provider: tasks, tasks with a known price, and the sum of their cost_usd, over the
    tasks the provider accepted (one never sent, or refused, cost nothing)."""
    where = "WHERE provider_task_id IS NOT NULL" + (" AND status = ?" if status else "")
    params: tuple[str, ...] = (status,) if status else ()
    rows = conn.execute(
        "SELECT provider, count(*) AS tasks, count(cost_usd) AS priced_tasks,"
        f" round(coalesce(sum(cost_usd), 0), 6) AS cost_usd FROM tasks {where}"
        " GROUP BY provider ORDER BY provider",
        params,
    ).fetchall()
    return [dict(row) for row in rows]


class Polling:
    """The poll schedule and held submissions, through the store's reader and writer threads."""

    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def due(self, now: float, providers: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """Tasks whose poll is due (or not yet scheduled)."""
        return await self._reader.run(
            functools.partial(due_polls, now=now, providers=tuple(providers), limit=limit)
        )

    async def schedule(
        self, task_id: str, next_poll_at: float, attempts: int, deadline_at: float | None = None
    ) -> None:
        """Set the next poll (and, the first time, the deadline)."""
        await self._writer.run(
            functools.partial(
                set_poll,
                task_id=task_id,
                next_poll_at=next_poll_at,
                attempts=attempts,
                deadline_at=deadline_at,
            )
        )

    async def claim_slot(
        self, task_id: str, provider: str, cap: int, keep_sealed: bool = False
    ) -> bool:
        """Take an in-flight slot of the provider for the task (cap 0: no cap)."""
        return await self._writer.run(
            functools.partial(
                claim_slot, task_id=task_id, provider=provider, cap=cap, keep_sealed=keep_sealed
            )
        )

    async def create_and_claim(
        self, new: NewTask, cap: int, seal: Callable[[], str], keep_sealed: bool = False
    ) -> tuple[dict[str, Any], bool, bool]:
        """Record a task and claim its send (or hold it) in one commit: (task, new, claimed)."""
        return await self._writer.run(
            functools.partial(
                insert_and_claim, new=new, cap=cap, seal=seal, keep_sealed=keep_sealed
            )
        )

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

    async def interrupted(self) -> list[dict[str, Any]]:
        """Tasks whose send was cut off by a stop."""
        return await self._reader.run(interrupted)

    async def cost_totals(self, status: str | None = None) -> list[dict[str, Any]]:
        """Cost per provider, optionally of tasks in one status."""
        return await self._reader.run(functools.partial(cost_totals, status=status))
