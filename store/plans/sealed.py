"""Values sealed with the secret key (store/plans/sealed.py): the key check, the destinations'
targets and the requests held back for a later send. A start with a key that opens none of them
is refused (receiver/runtime/key_check.py); `reelhook rotate-key` re-seals them page by page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from store.models import Resealed, SealedColumn
from store.sql import Plan, count, row, rows, value

# A destination's route key is a keyed hash of its address: re-made with the value.
DESTINATION_TARGETS = SealedColumn("destinations", "id", "target", "channel", "route_key")
HELD_REQUESTS = SealedColumn("tasks", "id", "held_request")
SEALED_COLUMNS = (DESTINATION_TARGETS, HELD_REQUESTS)


def key_check() -> Plan[str | None]:
    """The sealed key check, or None before the first start that wrote it."""
    sealed: str | None = yield value("SELECT sealed FROM key_check WHERE id = 1")
    return sealed


def set_key_check(sealed: str, replace: bool) -> Plan[None]:
    """Write the key check; the first writer's stays unless `replace` (after a rotation)."""
    conflict = "DO UPDATE SET sealed = excluded.sealed" if replace else "DO NOTHING"
    yield count(
        f"INSERT INTO key_check (id, sealed) VALUES (1, :sealed) ON CONFLICT (id) {conflict}",
        sealed=sealed,
    )


def any_sealed() -> Plan[str | None]:
    """One sealed value of the database's, if it holds any."""
    for column in SEALED_COLUMNS:
        found: dict[str, Any] | None = yield row(
            f"SELECT {column.column} AS sealed FROM {column.table}"
            f" WHERE {column.column} IS NOT NULL LIMIT 1"
        )
        if found is not None:
            return str(found["sealed"])
    return None


def sealed_page(column: SealedColumn, after: Any, limit: int) -> Plan[list[dict[str, Any]]]:
    """The next `limit` sealed values of `column` after key `after` (None: from the start), as
    rows of `key`, `sealed` and `context`."""
    since = "" if after is None else f" AND {column.key} > :after"
    context = column.context or "NULL"
    page: list[dict[str, Any]] = yield rows(
        f"SELECT {column.key} AS key, {column.column} AS sealed, {context} AS context"
        f" FROM {column.table}"
        f" WHERE {column.column} IS NOT NULL{since} ORDER BY {column.key} LIMIT :limit",
        after=after, limit=limit,
    )
    return page


def reseal(column: SealedColumn, changes: Sequence[Resealed]) -> Plan[int]:
    """Put each new value in place of the old one where that is still there (a held request
    sent meanwhile is not brought back); returns how many were replaced."""
    derived = f", {column.derived} = :derived" if column.derived else ""
    replaced = 0
    for change in changes:
        replaced += yield count(
            f"UPDATE {column.table} SET {column.column} = :new{derived}"
            f" WHERE {column.key} = :key AND {column.column} = :old",
            new=change.new, derived=change.derived, key=change.key, old=change.old,
        )
    return replaced
