"""Which due deliveries go out now, and how they are grouped into messages.

Deliveries are grouped by route (the same address, whatever the task). A channel that can
combine notices (Slack) gets at most one message in flight per route and at most one message per
`interval` per route: whatever waits for that route in the meantime goes out as one digest. Other
channels send each delivery on its own, at most `per_route` at a time to one route: a client whose
endpoint hangs takes that many of the worker's slots, never all of them (fair share).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Batch:
    """Deliveries sent as one message to one route."""

    route: str
    channel: str
    rows: tuple[Mapping[str, Any], ...]

    @property
    def ids(self) -> list[int]:
        """The delivery ids in this batch."""
        return [int(row["delivery_id"]) for row in self.rows]


@dataclass
class Plan:
    """The batches to send now; `wake_at` is when a held-back route may send again."""

    batches: list[Batch] = field(default_factory=list)
    held: int = 0
    wake_at: float | None = None


class Pacer:
    """Per-route pacing for channels that combine notices, remembered in memory."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}

    def ready_at(self, route: str) -> float:
        """The earliest time the route may get its next message."""
        return self._next.get(route, 0.0)

    def sent(self, route: str, now: float) -> None:
        """A message to the route started now."""
        self._next[route] = max(self._next.get(route, 0.0), now + self.interval)

    def hold(self, route: str, until: float) -> None:
        """The receiver asked us to wait (Retry-After)."""
        self._next[route] = max(self._next.get(route, 0.0), until)


def route_of(row: Mapping[str, Any]) -> str:
    """The pacing key of a delivery: its route, or its own destination when it has none."""
    return str(row.get("route_key") or f"destination:{row['destination_id']}")


def group_by_route(
    rows: Sequence[Mapping[str, Any]],
) -> dict[str, list[Mapping[str, Any]]]:
    """Rows grouped by route (`route_of`), groups and rows in the order given."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(route_of(row), []).append(row)
    return groups


def plan(
    groups: Mapping[str, Sequence[Mapping[str, Any]]],
    max_batch: Mapping[str, int],
    pacer: Pacer,
    busy: Mapping[str, int],
    capacity: int,
    now: float,
    per_route: int = 1_000_000,
) -> Plan:
    """Choose at most `capacity` batches from due rows grouped by route (`group_by_route`),
    respecting pacing and the sends in flight per route (`busy`: how many), at most
    `per_route` of them. Every batch is the first rows of its route's group."""
    result = Plan()
    for route, members in groups.items():
        if not members:
            continue
        limit = max_batch.get(members[0]["channel"], 1)
        room = capacity - len(result.batches)
        if room <= 0:  # full: what is left only counts as held
            result.held += 1 if limit > 1 else len(members)
        elif limit > 1:
            _paced(result, route, members, limit, pacer, busy, now)
        else:  # one batch per delivery, a fair share of the slots per route
            take = max(0, min(room, per_route - busy.get(route, 0)))
            result.batches += [Batch(route, row["channel"], (row,)) for row in members[:take]]
            result.held += max(0, len(members) - take)
    return result


def _paced(
    result: Plan, route: str, members: Sequence[Mapping[str, Any]], limit: int,
    pacer: Pacer, busy: Mapping[str, int], now: float,
) -> None:
    ready_at = pacer.ready_at(route)
    if route in busy or ready_at > now:
        result.held += 1
        if route not in busy:
            result.wake_at = ready_at if result.wake_at is None else min(result.wake_at, ready_at)
        return
    result.batches.append(Batch(route, members[0]["channel"], tuple(members[:limit])))
