"""Counts for the operator's window (/metrics, the dashboard's cost chart) and cost totals:
read-only, the database's own totals, the same whichever process asks."""

from __future__ import annotations

from typing import Any

from store.plans.submits import IN_FLIGHT
from store.rows import CostTotal, DailyCost
from store.sql import Lock, Plan, Query, many, rows

MICROS = 1_000_000  # costs are counted in millionths of a dollar: sums stay exact

# The counts of m014: the folded totals and the deltas since, summed per key. Bounded by the
# keys and by the deltas of the changes since the last fold, never by the history.
_COUNTED = (
    "SELECT kind, a, b, CAST(sum(n) AS BIGINT) AS n, CAST(sum(priced) AS BIGINT) AS priced,"
    " CAST(sum(micros) AS BIGINT) AS micros FROM (SELECT kind, a, b, n, priced, micros"
    " FROM count_totals WHERE {where} UNION ALL SELECT kind, a, b, n, priced, micros"
    " FROM count_deltas WHERE {where}) AS c GROUP BY kind, a, b HAVING sum(n) > 0"
    " ORDER BY kind, a, b"
)
SNAPSHOT_KINDS = {  # kind: the names of its a and b
    "tasks": ("provider", "status"),
    "deliveries": ("status", ""),
    "attempts": ("channel", "outcome"),
    "videos": ("status", ""),
}
FOLD_LOCK = "count-fold"
FOLD_BATCH = 10_000  # deltas per fold: a short transaction, even after days without one


def _counted(where: str, **params: Any) -> Query:
    return rows(_COUNTED.format(where=where), **params)


def select_snapshot() -> Plan[dict[str, list[dict[str, Any]]]]:
    """Tasks by provider and status, sends in flight, deliveries by status, attempts by
    channel and outcome (as made: pruning leaves them counted), and kept videos by status."""
    counted = yield _counted("kind IN ('tasks', 'deliveries', 'attempts', 'videos')")
    snapshot: dict[str, list[dict[str, Any]]] = {kind: [] for kind in SNAPSHOT_KINDS}
    for row in counted:
        a, b = SNAPSHOT_KINDS[row["kind"]]
        named = {a: row["a"], b: row["b"]} if b else {a: row["a"]}
        snapshot[row["kind"]].append(named | {"n": int(row["n"])})
    snapshot["in_flight"] = yield rows(
        f"SELECT provider, count(*) AS n FROM tasks WHERE {IN_FLIGHT} GROUP BY provider")
    return snapshot


def select_daily_costs(since: str) -> Plan[list[DailyCost]]:
    """Per provider and UTC day from `since` (YYYY-MM-DD): tasks and their summed cost_usd."""
    counted = yield _counted("kind = 'days' AND b >= :since", since=since)
    found = [DailyCost(provider=row["a"], day=row["b"], tasks=int(row["n"]),
                       cost_usd=_dollars(row["micros"])) for row in counted]
    return sorted(found, key=lambda row: (row["day"], row["provider"]))


def cost_totals(status: str | None) -> Plan[list[CostTotal]]:
    """Per provider: tasks, tasks with a known price, and the sum of their cost_usd, over the
    tasks the provider accepted (one never sent, or refused, cost nothing)."""
    only = " AND b = :status" if status else ""
    counted = yield _counted(f"kind = 'costs'{only}", **({"status": status} if status else {}))
    totals: dict[str, dict[str, Any]] = {}
    for row in counted:
        total = totals.setdefault(row["a"], {"provider": row["a"], "tasks": 0,
                                             "priced_tasks": 0, "micros": 0})
        total["tasks"] += int(row["n"])
        total["priced_tasks"] += int(row["priced"])
        total["micros"] += int(row["micros"])
    return [CostTotal(provider=t["provider"], tasks=t["tasks"], priced_tasks=t["priced_tasks"],
                      cost_usd=_dollars(t["micros"])) for t in totals.values()]


def fold_counts(limit: int) -> Plan[int]:
    """Move the oldest `limit` deltas into the totals (one fold at a time, each short however
    many waited); the number moved."""
    yield Lock(FOLD_LOCK)
    moved = yield rows("DELETE FROM count_deltas WHERE id IN (SELECT id FROM count_deltas"
                       " ORDER BY id LIMIT :limit) RETURNING kind, a, b, n, priced, micros",
                       limit=limit)
    sums: dict[tuple[str, str, str], list[int]] = {}
    for row in moved:
        total = sums.setdefault((row["kind"], row["a"], row["b"]), [0, 0, 0])
        total[0] += int(row["n"])
        total[1] += int(row["priced"])
        total[2] += int(row["micros"])
    yield many(
        "INSERT INTO count_totals (kind, a, b, n, priced, micros) VALUES"
        " (:kind, :a, :b, :n, :priced, :micros) ON CONFLICT (kind, a, b) DO UPDATE SET"
        " n = count_totals.n + excluded.n, priced = count_totals.priced + excluded.priced,"
        " micros = count_totals.micros + excluded.micros",
        [{"kind": kind, "a": a, "b": b, "n": n, "priced": priced, "micros": micros}
         for (kind, a, b), (n, priced, micros) in sorted(sums.items())],
    )
    return len(moved)


def _dollars(micros: Any) -> float:
    return round(int(micros or 0) / MICROS, 6)
