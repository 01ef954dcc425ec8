"""The health of each address notices go to (a route): since when every attempt has failed, and
what follows from attempts: a destination disabled after failing long enough, and the operator's
alerts (notice.dead, destination.disabled, destination.recovered).

`judge` decides, purely; `after_attempts` reads and writes what it decides, in the commit that
records the attempts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from store.models import HealthPolicy, iso_from_epoch, utc_now_iso
from store.plans import alerts
from store.sql import Lock, Plan, count, many, rows

NOTICE_DEAD, DISABLED, RECOVERED = "notice.dead", "destination.disabled", "destination.recovered"

# A failure this long after the last one starts the clock again: while a notice is retried its
# attempts are at most hours apart, so a gap this long means the address had nothing to send.
RESTART_GAP = 86400.0
ROUTES_OF = (
    "SELECT d.id AS delivery_id, d.task_id, s.route_key, s.label, h.failing_since,"
    " h.last_failed_at, h.troubled"
    " FROM deliveries d JOIN destinations s ON s.id = d.destination_id"
    " LEFT JOIN route_health h ON h.route_key = s.route_key WHERE d.id = ANY(:ids)"
)
SAVE = (
    "INSERT INTO route_health (route_key, failing_since, last_failed_at, troubled)"
    " VALUES (:route_key, :failing_since, :last_failed_at, :troubled) ON CONFLICT (route_key)"
    " DO UPDATE SET failing_since = excluded.failing_since,"
    " last_failed_at = excluded.last_failed_at, troubled = excluded.troubled"
)


@dataclass(frozen=True)
class RouteState:
    """Since when every attempt to the route failed (None: the last one worked), when the last
    one failed, and whether an alert about its trouble went out (then its recovery is told)."""

    failing_since: float | None = None
    troubled: bool = False
    last_failed_at: float | None = None


@dataclass(frozen=True)
class Verdict:
    """What an attempt means for its route: its new state, a reason to disable it, an alert."""

    state: RouteState
    disable: str | None = None
    alert: str | None = None
    reason: str | None = None


def judge(
    outcome: str, at: float, error: str | None, state: RouteState, policy: HealthPolicy
) -> Verdict:
    """What an attempt with `outcome` (delivered, retrying, dead, gone) started at `at` means
    for a route in `state`."""
    if outcome == "delivered":
        return Verdict(RouteState(), alert=RECOVERED if state.troubled else None)
    quiet = state.last_failed_at is None or at - state.last_failed_at > RESTART_GAP
    since = at if state.failing_since is None or quiet else state.failing_since
    failing = RouteState(since, state.troubled, at)
    if outcome == "gone":  # the worker disabled it before recording the attempt
        return Verdict(failing, alert=DISABLED, reason=error)
    limit = policy.disable_after
    if limit is not None and at - since >= limit:
        reason = (f"every attempt failed for {limit / 86400:g} days (since"
                  f" {iso_from_epoch(since)}); the last: {error or 'no answer'}")
        return Verdict(failing, disable=reason, alert=DISABLED, reason=reason)
    if outcome == "dead":
        return Verdict(failing, alert=NOTICE_DEAD, reason=error)
    return Verdict(failing)


def after_attempts(attempts: Sequence[Any], policy: HealthPolicy) -> Plan[None]:
    """Apply `judge` to recorded attempts (store.plans.outbox.AttemptRecord), in order: routes'
    health saved, destinations disabled, alerts queued."""
    if policy.disable_after is None and not policy.alerts:
        return  # nothing follows from the routes' health
    ids = [attempt.delivery_id for attempt in attempts]
    found = yield rows(ROUTES_OF, ids=ids)
    if all(a.outcome == "delivered" for a in attempts) and not any(
        row["failing_since"] is not None or row["troubled"] for row in found
    ):
        return  # the common case: all well, and was
    for key in sorted({row["route_key"] for row in found if row["route_key"]}):
        yield Lock(f"route:{key}")  # in order: two batches never wait for each other in a ring
    found = yield rows(ROUTES_OF, ids=ids)  # as it stands now that it is ours
    routes = {row["delivery_id"]: row for row in found if row["route_key"]}
    before: dict[str, RouteState] = {}
    now: dict[str, RouteState] = {}
    told: set[tuple[str, str | None]] = set()  # one alert of a kind per route per batch
    for attempt in attempts:
        route = routes.get(attempt.delivery_id)
        if route is None:
            continue
        key = route["route_key"]
        state = now.get(key) or before.setdefault(key, RouteState(
            route["failing_since"], bool(route["troubled"]), route["last_failed_at"]))
        verdict = judge(attempt.outcome, attempt.started_at, attempt.error, state, policy)
        if (key, verdict.alert) in told:
            verdict = Verdict(verdict.state)
        told.add((key, verdict.alert))
        now[key] = yield from _carry_out(verdict, route, policy)
    changed = [(key, state) for key, state in now.items() if state != before[key]]
    if changed:
        yield many(SAVE, ({"route_key": key, "failing_since": state.failing_since,
                           "last_failed_at": state.last_failed_at,
                           "troubled": int(state.troubled)} for key, state in changed))


def _carry_out(verdict: Verdict, route: dict[str, Any], policy: HealthPolicy) -> Plan[RouteState]:
    """Disable and alert as the verdict says; the route's state after it."""
    state = verdict.state
    if verdict.disable is not None and not (yield from disable(route["route_key"],
                                                               verdict.disable)):
        return state  # disabled already: told then
    if verdict.alert is None or not policy.alerts:
        return state
    queued = yield from alerts.queue(verdict.alert, route["route_key"], route["label"],
                                     verdict.reason, route["task_id"])
    if verdict.alert == RECOVERED or not queued:
        return state
    return RouteState(state.failing_since, True, state.last_failed_at)


def gone(route_key: str, label: str, reason: str, at: float, policy: HealthPolicy) -> Plan[int]:
    """A route that answered "gone" outside a delivery (a test send): disabled with its
    waiting deliveries ended and the operator told, as a delivery's "gone" does; how many
    destinations it disabled (0: disabled already, and told then)."""
    yield Lock(f"route:{route_key}")
    found = yield rows("SELECT failing_since, last_failed_at, troubled FROM route_health"
                       " WHERE route_key = :route_key", route_key=route_key)
    state = RouteState(found[0]["failing_since"], bool(found[0]["troubled"]),
                       found[0]["last_failed_at"]) if found else RouteState()
    disabled = yield from disable(route_key, reason)
    if not disabled:
        return 0
    verdict = judge("gone", at, reason, state, policy)
    route = {"route_key": route_key, "label": label, "task_id": None}
    after = yield from _carry_out(verdict, route, policy)
    yield many(SAVE, [{"route_key": route_key, "failing_since": after.failing_since,
                       "last_failed_at": after.last_failed_at, "troubled": int(after.troubled)}])
    return disabled


def disable(route_key: str, reason: str) -> Plan[int]:
    """Disable every destination with this route and end its waiting deliveries with the
    reason; how many destinations were not disabled already."""
    disabled = yield from mark_disabled(route_key, reason)
    yield from give_up_waiting(route_key, reason)
    return disabled


def mark_disabled(route_key: str, reason: str) -> Plan[int]:
    """Set the reason on the route's destinations not disabled yet; how many."""
    disabled = yield count(
        "UPDATE destinations SET disabled_reason = :reason, disabled_at = :now"
        " WHERE route_key = :route_key AND disabled_reason IS NULL",
        reason=reason, route_key=route_key, now=utc_now_iso(),
    )
    return int(disabled)


def give_up_waiting(route_key: str, reason: str) -> Plan[int]:
    """End the route's pending deliveries (dead, with the reason); how many."""
    given_up = yield count(
        "UPDATE deliveries SET status = 'dead', last_error = :reason, next_attempt_at = NULL,"
        " updated_at = :now WHERE status = 'pending' AND destination_id IN"
        " (SELECT id FROM destinations WHERE route_key = :route_key)",
        reason=reason, now=utc_now_iso(), route_key=route_key,
    )
    return int(given_up)


def forget_failures(route_key: str) -> Plan[None]:
    """Start the route's failure clock afresh (it was resumed by hand); a trouble alerted
    stays, so its recovery is still told."""
    yield count("UPDATE route_health SET failing_since = NULL WHERE route_key = :route_key",
                route_key=route_key)
