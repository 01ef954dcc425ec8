"""Retention (REELHOOK_KEEP_DAYS): events, delivery attempts and inbound messages older than the
cutoff are deleted in small batches; tasks, their final state and their deliveries stay.

Ids grow with time, so each batch looks at the oldest `limit` rows of a table only and deletes
those of them past the cutoff: a batch costs `limit` rows whatever the table's size, and pruning
stops at the first batch that finds fewer (the rest are newer).
"""

from __future__ import annotations

from store.models import Kept
from store.sql import Plan, count, value

PRUNED = (Kept("events", "received_at"), Kept("attempts", "started_at"),
          Kept("inbound_messages", "received_at"))


def count_old(kept: Kept, cutoff: str) -> Plan[int]:
    """How many rows of the table are older than `cutoff` (ISO 8601 UTC)."""
    found = yield value(f"SELECT count(*) FROM {kept.table} WHERE {kept.moment} < :cutoff",
                        cutoff=cutoff)
    return int(found or 0)


def delete_old(kept: Kept, cutoff: str, limit: int) -> Plan[int]:
    """Delete the rows older than `cutoff` among the table's oldest `limit`; how many."""
    deleted = yield count(
        f"DELETE FROM {kept.table} WHERE id IN (SELECT id FROM {kept.table} ORDER BY id"
        f" LIMIT :limit) AND {kept.moment} < :cutoff",
        limit=limit, cutoff=cutoff,
    )
    return int(deleted)
