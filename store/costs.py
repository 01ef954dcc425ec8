"""Cost totals: estimated spending per provider, from each task's `cost_usd`."""

from __future__ import annotations

import sqlite3
from typing import Any


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
