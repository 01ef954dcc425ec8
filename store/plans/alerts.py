"""The operator's alerts (notice.dead, destination.disabled, destination.recovered): queued in
the commit that records what caused them, then sent to REELHOOK_ALERTS_TO under a claim with
retries, like a notice. A notice.dead alert goes at most once an hour per address."""

from __future__ import annotations

import time

from store.rows import AlertRow
from store.sql import Plan, count, rows, value

KINDS = ("notice.dead", "destination.disabled", "destination.recovered")
HOURLY = "notice.dead"
GAP = 3600.0
STATUSES = ("pending", "sending", "sent", "dead")

ALERT_DUE = (
    "(status = 'pending' AND next_attempt_at <= :now)"
    " OR (status = 'sending' AND claimed_at < :stale_before)"
)


def queue(
    kind: str, route_key: str, label: str, reason: str | None, task_id: str | None
) -> Plan[bool]:
    """Queue an alert, unless it is a notice.dead one and the route had one within the hour;
    whether it was queued."""
    now = time.time()
    if kind == HOURLY:
        recent = yield value(
            "SELECT id FROM alerts WHERE route_key = :route_key AND kind = :kind"
            " AND created_at > :since LIMIT 1", route_key=route_key, kind=kind, since=now - GAP,
        )
        if recent is not None:
            return False
    yield count(
        "INSERT INTO alerts (kind, route_key, label, reason, task_id, created_at, status,"
        " attempts, next_attempt_at) VALUES (:kind, :route_key, :label, :reason, :task_id,"
        " :now, 'pending', 0, :now)",
        kind=kind, route_key=route_key, label=label, reason=(reason or "")[:1000] or None,
        task_id=task_id, now=now,
    )
    return True


def claim(
    now: float, stale_before: float, owner: str, limit: int
) -> Plan[list[AlertRow]]:
    """Take due alerts (and those whose sender went quiet) for `owner`, oldest first."""
    due = yield rows(
        f"SELECT id FROM alerts WHERE {ALERT_DUE} ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED",
        now=now, stale_before=stale_before, limit=limit,
    )
    ids = [int(found["id"]) for found in due]
    if not ids:
        return []
    yield count(
        "UPDATE alerts SET status = 'sending', claimed_at = :now, claim_owner = :owner"
        " WHERE id = ANY(:ids)", now=now, owner=owner, ids=ids,
    )
    taken: list[AlertRow] = yield rows("SELECT * FROM alerts WHERE id = ANY(:ids) ORDER BY id",
                                       ids=ids)
    yield from _name_destinations(taken)
    return taken


def _name_destinations(alerts: list[AlertRow]) -> Plan[None]:
    """Give each alert the registered destinations of its address ({id, name}, by name): an
    operator tells two destinations on one host apart by their names, not the redacted label."""
    named = yield rows(
        "SELECT id, name, route_key FROM destinations WHERE route_key = ANY(:keys)"
        " AND name IS NOT NULL AND deleted_at IS NULL ORDER BY name",
        keys=sorted({alert["route_key"] for alert in alerts}),
    )
    for alert in alerts:
        alert["destinations"] = [{"id": int(found["id"]), "name": str(found["name"])}
                                 for found in named if found["route_key"] == alert["route_key"]]


def settle(
    alert_id: int, owner: str, error: str | None, next_attempt_at: float | None
) -> Plan[bool]:
    """Record an attempt at an alert: sent (no error), due again at `next_attempt_at`, or dead;
    False when the claim was no longer `owner`'s."""
    status = "sent" if error is None else ("pending" if next_attempt_at is not None else "dead")
    changed = yield count(
        "UPDATE alerts SET status = :status, attempts = attempts + 1, last_error = :error,"
        " next_attempt_at = :next_at, claimed_at = NULL, claim_owner = NULL,"
        " sent_at = CASE WHEN :status = 'sent' THEN :now ELSE sent_at END"
        " WHERE id = :id AND status = 'sending' AND claim_owner = :owner",
        status=status, error=error, next_at=next_attempt_at, now=time.time(), id=alert_id,
        owner=owner,
    )
    return bool(changed)


def recent(limit: int = 50) -> Plan[list[AlertRow]]:
    """Alerts newest first."""
    found = yield rows("SELECT * FROM alerts ORDER BY id DESC LIMIT :limit", limit=limit)
    return found  # type: ignore[no-any-return]
