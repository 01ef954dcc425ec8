"""Messages from sources that sign with Standard Webhooks, recorded once per webhook-id."""

from __future__ import annotations

from store.models import utc_now_iso
from store.rows import InboundMessage
from store.sql import Plan, rows, value, where


def insert_inbound(source: str, webhook_id: str, payload: str) -> Plan[bool]:
    """Record a message; False when this source already sent this webhook-id (from any
    process: the unique index decides)."""
    inserted = yield value(
        "INSERT INTO inbound_messages (source, webhook_id, received_at, payload)"
        " VALUES (:source, :webhook_id, :now, :payload)"
        " ON CONFLICT (source, webhook_id) DO NOTHING RETURNING id",
        source=source, webhook_id=webhook_id, now=utc_now_iso(), payload=payload,
    )
    return inserted is not None


def select_inbound(source: str) -> Plan[list[InboundMessage]]:
    """Every message of a source, oldest first."""
    found = yield rows(
        "SELECT webhook_id, received_at, payload FROM inbound_messages WHERE source = :source"
        " ORDER BY id",
        source=source,
    )
    return found  # type: ignore[no-any-return]


def select_recent(
    source: str | None, limit: int, before_id: int | None
) -> Plan[list[InboundMessage]]:
    """Messages newest first, of one source or all, below a cursor id."""
    clause, params = where([("source", source)], "id", before_id)
    found = yield rows(
        "SELECT id, source, webhook_id, received_at, payload FROM inbound_messages"
        f" {clause} ORDER BY id DESC LIMIT :limit",
        **params, limit=limit,
    )
    return found  # type: ignore[no-any-return]
