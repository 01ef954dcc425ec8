"""Registered destinations: named once, notified of every task their filters match, besides the
task's own `notify`. A registered destination has no task (`task_id` is NULL) and a unique name
among those not deleted; one deleted stays for the history of its deliveries.

What matches is decided here, in Python (`matches`), the same on both databases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from store.errors import DestinationNameTaken, DestinationNotFound
from store.models import Registration, metadata_text, utc_now_iso
from store.plans import health
from store.rows import DestinationRow
from store.sql import Lock, Plan, count, rows, value

COLUMNS = (
    "id, name, channel, target, label, route_key, on_states, provider, metadata_filter, paused,"
    " managed_by, disabled_reason, disabled_at, created_at, updated_at"
)
REGISTERED = "task_id IS NULL AND deleted_at IS NULL"
# Registered destinations that may be sent to: what queueing a notice reads.
LIVE = (
    "SELECT id, route_key, on_states, provider, metadata_filter FROM destinations"
    f" WHERE {REGISTERED} AND paused = 0 AND disabled_reason IS NULL ORDER BY id"
)
OWN_ROUTES = "SELECT route_key FROM destinations WHERE task_id = :task_id"
TASK_VALUES = "SELECT key, value FROM task_metadata WHERE task_id = :task_id"
QUEUE_REGISTERED = (
    "INSERT INTO deliveries (task_id, state, destination_id, status, attempts,"
    " next_attempt_at, created_at, updated_at)"
    " SELECT :task_id, :state, id, 'pending', 0, :due, :now, :now FROM destinations"
    " WHERE id = ANY(:ids) ON CONFLICT (destination_id, task_id, state) DO NOTHING"
)
NAMES = "destinations:names"  # name changes take turns: the unique index would answer 500
# Waiting deliveries of a destination that stops (paused, deleted) end with the reason.
_GIVE_UP = (
    "UPDATE deliveries SET status = 'dead', last_error = :reason, next_attempt_at = NULL,"
    " updated_at = :now WHERE destination_id = :id AND status = 'pending'"
)





def matches(
    destination: Mapping[str, Any], wanted: Mapping[str, Any], task: Mapping[str, Any],
    state: str, values: Mapping[str, str],
) -> bool:
    """Whether a registered destination wants the notice of `task` reaching `state`: the state
    is one of its `on`, the provider is its provider (if it names one), and each metadata key
    it names (`wanted`, its metadata filter) has the given value as the search reads it
    (`values`, the task's rows of task_metadata, kept from the metadata as the client sent it:
    jsonb respells numbers)."""
    if state not in (destination["on_states"] or "").split(","):
        return False
    if destination["provider"] and destination["provider"] != task["provider"]:
        return False
    return all(values.get(key) == metadata_text(given) for key, given in wanted.items())


def queue_registered(
    task: Mapping[str, Any], state: str, due: float, now: str, *, has_own: bool = False
) -> Plan[int]:
    """Queue the notice of `task` in `state` (at `now`, due at `due`) for every live registered
    destination that matches, one per address, none to an address of the task's own notices
    (`has_own`: it has some); returns how many were queued."""
    live = yield rows(LIVE)
    filters = [json.loads(destination["metadata_filter"] or "{}") for destination in live]
    values: dict[str, str] = {}
    if any(filters):  # read only when a filter can use it
        found = yield rows(TASK_VALUES, task_id=task["id"])
        values = {row["key"]: row["value"] for row in found}
    wanted: dict[str, int] = {}
    for destination, metadata in zip(live, filters, strict=True):  # one notice per address,
        if matches(destination, metadata, task, state, values):  # the first registered one's
            wanted.setdefault(destination["route_key"], destination["id"])
    if wanted and has_own:  # read only when it can matter: most tasks have no own notices
        own = yield rows(OWN_ROUTES, task_id=task["id"])
        for found in own:
            wanted.pop(found["route_key"], None)
    ids = list(wanted.values())
    if not ids:
        return 0
    queued = yield count(
        QUEUE_REGISTERED, task_id=task["id"], state=state, due=due, now=now, ids=ids
    )
    return int(queued)


def select(
    *, destination_id: int | None = None, name: str | None = None
) -> Plan[list[DestinationRow]]:
    """Registered destinations (not deleted) by name, or the one with this id or name."""
    conditions = [REGISTERED]
    if destination_id is not None:
        conditions.append("id = :id")
    if name is not None:
        conditions.append("name = :name")
    found = yield rows(
        f"SELECT {COLUMNS} FROM destinations WHERE {' AND '.join(conditions)} ORDER BY name",
        id=destination_id, name=name,
    )
    return found  # type: ignore[no-any-return]


def fetch(destination_id: int) -> Plan[DestinationRow]:
    """One registered destination; DestinationNotFound if there is none."""
    found = yield from select(destination_id=destination_id)
    if not found:
        raise DestinationNotFound(destination_id)
    return found[0]


def insert(registration: Registration) -> Plan[DestinationRow]:
    """Register a destination; DestinationNameTaken when the name is in use."""
    columns = registration.columns()
    now = utc_now_iso()
    yield Lock(NAMES)
    new_id = yield value(
        f"INSERT INTO destinations ({', '.join(columns)}, created_at, updated_at)"
        f" VALUES ({', '.join(':' + name for name in columns)}, :now, :now)"
        f" ON CONFLICT (name) WHERE {REGISTERED} DO NOTHING RETURNING id",
        **columns, now=now,
    )
    if new_id is None:
        raise DestinationNameTaken(registration.name)
    created = yield from fetch(int(new_id))
    return created


def update(destination_id: int, changes: Mapping[str, Any]) -> Plan[DestinationRow]:
    """Change columns of a registered destination (names as in `Registration.columns`);
    DestinationNotFound, DestinationNameTaken."""
    before = yield from fetch(destination_id)
    if "name" in changes:
        yield Lock(NAMES)
        taken = yield from select(name=changes["name"])
        if taken and taken[0]["id"] != destination_id:
            raise DestinationNameTaken(str(changes["name"]))
    if changes.get("route_key", before["route_key"]) != before["route_key"]:
        changes = {**changes, "disabled_reason": None, "disabled_at": None}
    if changes:
        settings = ", ".join(f"{column} = :{column}" for column in changes)
        yield count(
            f"UPDATE destinations SET {settings}, updated_at = :now WHERE id = :id",
            **changes, now=utc_now_iso(), id=destination_id,
        )
    if changes.get("paused"):
        yield count(_GIVE_UP, reason="destination paused", now=utc_now_iso(), id=destination_id)
    changed = yield from fetch(destination_id)
    return changed


def resume(destination_id: int) -> Plan[DestinationRow]:
    """Send to the destination again: not paused, not disabled (nor any destination of its
    address), its failures forgotten."""
    found = yield from fetch(destination_id)
    now = utc_now_iso()
    yield count("UPDATE destinations SET paused = 0, updated_at = :now WHERE id = :id",
                now=now, id=destination_id)
    yield count(  # disabled is a fact of the address: every destination of it is back
        "UPDATE destinations SET disabled_reason = NULL, disabled_at = NULL, updated_at = :now"
        " WHERE route_key = :route_key AND disabled_reason IS NOT NULL",
        now=now, route_key=found["route_key"],
    )
    if found["route_key"] is not None:
        yield from health.forget_failures(found["route_key"])
    resumed = yield from fetch(destination_id)
    return resumed


def delete(destination_id: int) -> Plan[None]:
    """Delete a registered destination: it is sent nothing more (its waiting deliveries end)
    and its name is free; its rows stay for the deliveries' history."""
    yield from fetch(destination_id)
    now = utc_now_iso()
    yield count("UPDATE destinations SET deleted_at = :now, updated_at = :now WHERE id = :id",
                now=now, id=destination_id)
    yield count(_GIVE_UP, reason="destination deleted", now=now, id=destination_id)


def sync_managed(managed_by: str, wanted: Sequence[Registration]) -> Plan[list[str]]:
    """Make the destinations `managed_by` (the settings) exactly `wanted`, by name: new ones
    registered, changed ones updated (paused and disabled stay as an operator left them),
    those no longer wanted deleted. Returns the names registered now."""
    yield Lock(f"destinations:{managed_by}")  # two starts at once take turns
    current = yield rows(
        f"SELECT {COLUMNS} FROM destinations WHERE {REGISTERED} AND managed_by = :by", by=managed_by
    )
    by_name = {found["name"]: found for found in current}
    added: list[str] = []
    for registration in wanted:
        found = by_name.pop(registration.name, None)
        if found is None:
            if (yield from _insert_quietly(registration)):
                added.append(registration.name)
            continue
        columns = registration.columns()
        kept = ("paused", "target", "label")  # the seal differs each time; the route says it
        changes = {k: v for k, v in columns.items() if k not in kept and found[k] != v}
        if found["route_key"] != registration.route_key:
            changes |= {"target": registration.target, "label": registration.label}
        if changes:
            yield from update(int(found["id"]), changes)
    for gone in by_name.values():
        yield from delete(int(gone["id"]))
    return added


def _insert_quietly(registration: Registration) -> Plan[bool]:
    """Register it unless the name is taken; whether it was."""
    try:
        yield from insert(registration)
    except DestinationNameTaken:
        return False
    return True
