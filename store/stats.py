"""Counts for the operator's window: /metrics and the dashboard's cost chart, read-only."""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from store.reader import Reader
from store.submit_queue import IN_FLIGHT


def select_snapshot(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    """Tasks by provider and status, sends in flight, deliveries by status and attempts by
    channel and outcome: the database's own totals, the same whichever process asks."""
    queries = {
        "tasks": "SELECT provider, status, count(*) AS n FROM tasks GROUP BY provider, status",
        "in_flight": f"SELECT provider, count(*) AS n FROM tasks WHERE {IN_FLIGHT}"
        " GROUP BY provider",
        "deliveries": "SELECT status, count(*) AS n FROM deliveries GROUP BY status",
        "attempts": "SELECT s.channel, a.outcome, count(*) AS n FROM attempts a"
        " JOIN deliveries d ON d.id = a.delivery_id JOIN destinations s ON s.id = d.destination_id"
        " GROUP BY s.channel, a.outcome",
    }
    return {name: [dict(row) for row in conn.execute(sql)] for name, sql in queries.items()}


def select_daily_costs(conn: sqlite3.Connection, since: str) -> list[dict[str, Any]]:
    """Per provider and UTC day from `since` (YYYY-MM-DD): tasks and their summed cost_usd."""
    rows = conn.execute(
        "SELECT provider, substr(created_at, 1, 10) AS day, count(*) AS tasks,"
        " round(coalesce(sum(cost_usd), 0), 6) AS cost_usd FROM tasks"
        " WHERE created_at >= ? GROUP BY provider, day ORDER BY day, provider",
        (since,),
    ).fetchall()
    return [dict(row) for row in rows]


class Stats:
    """Read-only counts through the store's reader threads."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Grouped counts of tasks, sends in flight, deliveries and attempts."""
        return await self._reader.run(select_snapshot)

    async def daily_costs(self, since: str) -> list[dict[str, Any]]:
        """Spending per provider per day since a date (YYYY-MM-DD)."""
        return await self._reader.run(functools.partial(select_daily_costs, since=since))
