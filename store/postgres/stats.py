"""Counts on PostgreSQL: cost totals, /metrics and the dashboard's cost chart, read-only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from store.postgres.polling import IN_FLIGHT

Run = Callable[[Callable[[asyncpg.Connection], Awaitable[Any]]], Awaitable[Any]]
_SNAPSHOT = {
    "tasks": "SELECT provider, status, count(*) AS n FROM tasks GROUP BY provider, status",
    "in_flight": f"SELECT provider, count(*) AS n FROM tasks WHERE {IN_FLIGHT} GROUP BY provider",
    "deliveries": "SELECT status, count(*) AS n FROM deliveries GROUP BY status",
    "attempts": "SELECT s.channel, a.outcome, count(*) AS n FROM attempts a"
    " JOIN deliveries d ON d.id = a.delivery_id JOIN destinations s ON s.id = d.destination_id"
    " GROUP BY s.channel, a.outcome",
}


class PgStats:
    """Read-only counts; the same whichever process asks."""

    def __init__(self, read: Run) -> None:
        self._read = read

    async def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Tasks by provider and status, sends in flight, deliveries by status, attempts by
        channel and outcome."""
        async def run(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
            return {
                name: [dict(row) for row in await conn.fetch(sql)]
                for name, sql in _SNAPSHOT.items()
            }

        result: dict[str, list[dict[str, Any]]] = await self._read(run)
        return result

    async def daily_costs(self, since: str) -> list[dict[str, Any]]:
        """Per provider and UTC day from `since` (YYYY-MM-DD): tasks and their summed cost_usd."""
        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                "SELECT provider, substr(created_at, 1, 10) AS day, count(*) AS tasks,"
                " round(coalesce(sum(cost_usd), 0)::numeric, 6)::float8 AS cost_usd FROM tasks"
                " WHERE created_at >= $1 GROUP BY provider, day ORDER BY day, provider", since,
            )
            return [dict(row) for row in rows]

        result: list[dict[str, Any]] = await self._read(run)
        return result

    async def cost_totals(self, status: str | None = None) -> list[dict[str, Any]]:
        """Per provider: tasks, tasks with a known price, and the sum of their cost_usd, over the
        tasks the provider accepted (one never sent, or refused, cost nothing)."""
        where = "WHERE provider_task_id IS NOT NULL" + (" AND status = $1" if status else "")

        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                "SELECT provider, count(*) AS tasks, count(cost_usd) AS priced_tasks,"
                " round(coalesce(sum(cost_usd), 0)::numeric, 6)::float8 AS cost_usd"
                f" FROM tasks {where} GROUP BY provider ORDER BY provider",
                *([status] if status else []),
            )
            return [dict(row) for row in rows]

        rows: list[dict[str, Any]] = await self._read(run)
        return rows

