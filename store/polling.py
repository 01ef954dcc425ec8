"""The polling schedule and the submission queue, as SQL run in the reader or writer threads.

A task is polled while it is unfinished, sent, and its provider can be asked (`next_poll_at`,
`poll_attempts`, `deadline_at`). A submission held back by a provider's in-flight cap or a busy
answer waits in `submit_state = 'pending'` with its request sealed in `held_request`.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from store.models import EventIn, EventOutcome
from store.queries import insert_event
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


def claim_polls(
    conn: sqlite3.Connection,
    now: float,
    providers: Sequence[str],
    limit: int,
    owner: str,
    lease: float,
) -> list[dict[str, Any]]:
    """Take due polls for `owner`: each is pushed `lease` seconds on, so no other poller takes it
    until this one reschedules it or the lease runs out. The rows are as they were."""
    rows = due_polls(conn, now, providers, limit)
    conn.executemany(
        "UPDATE tasks SET next_poll_at = ?, claim_owner = ?, claim_expires_at = ? WHERE id = ?",
        [(now + lease, owner, now + lease, row["id"]) for row in rows],
    )
    return rows


def set_poll(
    conn: sqlite3.Connection,
    task_id: str,
    next_poll_at: float,
    attempts: int,
    deadline_at: float | None = None,
) -> None:
    """Schedule the task's next poll; the deadline is set once and then kept."""
    conn.execute(
        "UPDATE tasks SET next_poll_at = ?, poll_attempts = ?, claim_owner = NULL,"
        " claim_expires_at = NULL, deadline_at = COALESCE(deadline_at, ?) WHERE id = ?",
        (next_poll_at, attempts, deadline_at, task_id),
    )


def claim_slot(
    conn: sqlite3.Connection, task_id: str, provider: str, cap: int, owner: str, lease: float
) -> bool:
    """Mark the task `sending` by `owner` for `lease` seconds if the provider has a free slot and
    no earlier task is waiting."""
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
        "UPDATE tasks SET submit_state = 'sending', held_request = NULL, submit_after = NULL,"
        " claim_owner = ?, claim_expires_at = ?"
        " WHERE id = ? AND status = 'queued' AND submit_state = 'pending'",
        (owner, time.time() + lease, task_id),
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


def interrupted(conn: sqlite3.Connection, now: float, grace: float) -> list[dict[str, Any]]:
    """Unfinished tasks whose send was cut off: claimed for sending by a process whose lease ran
    out, or recorded more than `grace` seconds ago and never claimed or held at all."""
    rows = conn.execute(
        "SELECT id, provider FROM tasks WHERE status = 'queued' AND provider_task_id IS NULL"
        " AND ((submit_state = 'sending' AND COALESCE(claim_expires_at, 0) < ?)"
        " OR (submit_state = 'pending' AND held_request IS NULL AND last_event_at < ?))",
        (now, now - grace),
    ).fetchall()
    return [dict(row) for row in rows]


def cost_totals(conn: sqlite3.Connection, status: str | None) -> list[dict[str, Any]]:
    """Per provider: tasks, tasks with a known price, and the sum of their cost_usd."""
    where, params = ("WHERE status = ?", (status,)) if status else ("", ())
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

    async def claim_due(
        self, now: float, providers: Sequence[str], limit: int, owner: str, lease: float
    ) -> list[dict[str, Any]]:
        """Take due polls for `owner` under a lease (see `claim_polls`)."""
        return await self._writer.run(functools.partial(
            claim_polls, now=now, providers=tuple(providers), limit=limit, owner=owner,
            lease=lease,
        ))

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
        self, task_id: str, provider: str, cap: int, owner: str = "", lease: float = 60.0
    ) -> bool:
        """Take an in-flight slot of the provider for the task (cap 0: no cap), for `owner`
        under a lease of `lease` seconds."""
        return await self._writer.run(functools.partial(
            claim_slot, task_id=task_id, provider=provider, cap=cap, owner=owner, lease=lease
        ))

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
        """Tasks whose send was cut off: their claim's lease ran out (see `interrupted`)."""
        moment = time.time() if now is None else now
        return await self._reader.run(functools.partial(interrupted, now=moment, grace=grace))

    async def cost_totals(self, status: str | None = None) -> list[dict[str, Any]]:
        """Cost per provider, optionally of tasks in one status."""
        return await self._reader.run(functools.partial(cost_totals, status=status))
