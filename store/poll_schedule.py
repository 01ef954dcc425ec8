"""The polling schedule: which sent, unfinished tasks are due to be asked about, and when next.

A task is polled while it is unfinished, sent, and its provider can be asked (`next_poll_at`,
`poll_attempts`, `deadline_at`).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from typing import Any

from store.reader import Reader
from store.states import UNFINISHED_SQL
from store.writer import Writer


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
        f" WHERE status IN {UNFINISHED_SQL} AND submit_state = 'sent'"
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


class PollSchedule:
    """The poll schedule, through the store's reader and writer threads."""

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
