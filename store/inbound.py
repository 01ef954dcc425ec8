"""Messages from sources that sign with Standard Webhooks, recorded once per webhook-id."""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from store.models import utc_now_iso
from store.queries import page_filter
from store.reader import Reader
from store.writer import Writer


def insert_inbound(conn: sqlite3.Connection, source: str, webhook_id: str, payload: str) -> bool:
    """Record a message; False when this source already sent this webhook-id."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO inbound_messages (source, webhook_id, received_at, payload)"
        " VALUES (?, ?, ?, ?)",
        (source, webhook_id, utc_now_iso(), payload),
    )
    return cursor.rowcount == 1


def select_inbound(conn: sqlite3.Connection, source: str) -> list[dict[str, Any]]:
    """Every message of a source, oldest first."""
    rows = conn.execute(
        "SELECT webhook_id, received_at, payload FROM inbound_messages WHERE source = ?"
        " ORDER BY id",
        (source,),
    ).fetchall()
    return [dict(row) for row in rows]


def select_recent(
    conn: sqlite3.Connection, source: str | None, limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """Messages newest first, of one source or all, below a cursor id."""
    where, params = page_filter([("source", source)], "id", before_id)
    rows = conn.execute(
        "SELECT id, source, webhook_id, received_at, payload FROM inbound_messages"
        f" {where} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [dict(row) for row in rows]


class Inbound:
    """The store's view of inbound Standard Webhooks messages."""

    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def record(self, source: str, webhook_id: str, payload: str) -> bool:
        """Record a verified message; False for a duplicate webhook-id."""
        return await self._writer.run(
            functools.partial(
                insert_inbound, source=source, webhook_id=webhook_id, payload=payload
            )
        )

    async def messages(self, source: str) -> list[dict[str, Any]]:
        """Every recorded message of a source, oldest first."""
        return await self._reader.run(functools.partial(select_inbound, source=source))

    async def recent(
        self, *, source: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Messages newest first, optionally of one source, below a cursor id."""
        return await self._reader.run(
            functools.partial(select_recent, source=source, limit=limit, before_id=before_id)
        )
