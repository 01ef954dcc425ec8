"""Counts for the operator's window (/metrics, the dashboard's cost chart) and cost totals:
read-only, the database's own totals, the same whichever process asks."""

from __future__ import annotations

from typing import Any

from store.plans.submits import IN_FLIGHT
from store.sql import Plan, rows

# Rounded as NUMERIC (PostgreSQL rounds no float to digits), answered as a float on both.
_COST = "CAST(round(CAST(coalesce(sum(cost_usd), 0) AS NUMERIC), 6) AS DOUBLE PRECISION)"
SNAPSHOT = {
    "tasks": "SELECT provider, status, count(*) AS n FROM tasks GROUP BY provider, status",
    "in_flight": f"SELECT provider, count(*) AS n FROM tasks WHERE {IN_FLIGHT} GROUP BY provider",
    "deliveries": "SELECT status, count(*) AS n FROM deliveries GROUP BY status",
    "attempts": "SELECT s.channel, a.outcome, count(*) AS n FROM attempts a"
    " JOIN deliveries d ON d.id = a.delivery_id JOIN destinations s ON s.id = d.destination_id"
    " GROUP BY s.channel, a.outcome",
    "videos": "SELECT video_status AS status, count(*) AS n FROM tasks"
    " WHERE video_status IS NOT NULL GROUP BY video_status",
}


def select_snapshot() -> Plan[dict[str, list[dict[str, Any]]]]:
    """Tasks by provider and status, sends in flight, deliveries by status, attempts by
    channel and outcome, and kept videos by status."""
    snapshot = {}
    for name, sql in SNAPSHOT.items():
        snapshot[name] = yield rows(sql)
    return snapshot


def select_daily_costs(since: str) -> Plan[list[dict[str, Any]]]:
    """Per provider and UTC day from `since` (YYYY-MM-DD): tasks and their summed cost_usd."""
    found = yield rows(
        f"SELECT provider, substr(created_at, 1, 10) AS day, count(*) AS tasks, {_COST} AS cost_usd"
        " FROM tasks WHERE created_at >= :since GROUP BY provider, day ORDER BY day, provider",
        since=since,
    )
    return found  # type: ignore[no-any-return]


def cost_totals(status: str | None) -> Plan[list[dict[str, Any]]]:
    """Per provider: tasks, tasks with a known price, and the sum of their cost_usd, over the
    tasks the provider accepted (one never sent, or refused, cost nothing)."""
    only = " AND status = :status" if status else ""
    found = yield rows(
        "SELECT provider, count(*) AS tasks, count(cost_usd) AS priced_tasks,"
        f" {_COST} AS cost_usd FROM tasks WHERE provider_task_id IS NOT NULL{only}"
        " GROUP BY provider ORDER BY provider",
        **({"status": status} if status else {}),
    )
    return found  # type: ignore[no-any-return]
