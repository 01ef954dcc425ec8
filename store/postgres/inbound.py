"""Standard Webhooks messages on PostgreSQL, recorded once per source and webhook-id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from store.models import utc_now_iso
from store.postgres.tasks import page_filter

Run = Callable[[Callable[[asyncpg.Connection], Awaitable[Any]]], Awaitable[Any]]


class PgInbound:
    """The store's view of inbound messages."""

    def __init__(self, write: Run, read: Run) -> None:
        self._write = write
        self._read = read

    async def record(self, source: str, webhook_id: str, payload: str) -> bool:
        """Record a verified message; False for a duplicate webhook-id (from any process)."""
        async def run(conn: asyncpg.Connection) -> bool:
            inserted = await conn.fetchval(
                "INSERT INTO inbound_messages (source, webhook_id, received_at, payload)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (source, webhook_id) DO NOTHING"
                " RETURNING id", source, webhook_id, utc_now_iso(), payload,
            )
            return inserted is not None

        fresh: bool = await self._write(run)
        return fresh

    async def messages(self, source: str) -> list[dict[str, Any]]:
        """Every message of a source, oldest first."""
        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                "SELECT webhook_id, received_at, payload FROM inbound_messages"
                " WHERE source = $1 ORDER BY id", source,
            )
            return [dict(row) for row in rows]

        rows: list[dict[str, Any]] = await self._read(run)
        return rows

    async def recent(
        self, *, source: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Messages newest first, optionally of one source, below a cursor id."""
        where, params = page_filter([("source", source)], "id", before_id)

        async def run(conn: asyncpg.Connection) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                "SELECT id, source, webhook_id, received_at, payload FROM inbound_messages"
                f" {where} ORDER BY id DESC LIMIT ${len(params) + 1}", *params, limit,
            )
            return [dict(row) for row in rows]

        rows: list[dict[str, Any]] = await self._read(run)
        return rows
