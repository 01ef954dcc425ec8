"""PostgreSQL's timestamptz as the store's one time text: ISO 8601 UTC with milliseconds
(store.models.iso_of), read and written the same on both databases. The codec works on
the wire's microseconds, so neither the session's TimeZone nor its DateStyle changes a value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from store.models import iso_of

_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)
_ONE_DAY_MICROS = 86_400_000_000


def encode_time(value: str | datetime) -> tuple[int]:
    """An ISO 8601 time (a zone-less one is UTC), or a datetime, as PostgreSQL's microseconds
    since 2000-01-01 UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = moment - _EPOCH_2000
    return (since.days * _ONE_DAY_MICROS + since.seconds * 1_000_000 + since.microseconds,)


def decode_time(value: tuple[int]) -> str:
    """PostgreSQL's microseconds since 2000-01-01 UTC as the store's ISO 8601 text."""
    return iso_of(_EPOCH_2000 + timedelta(microseconds=value[0]))


async def use_store_types(conn: asyncpg.Connection) -> None:
    """Times come and go as the store's ISO 8601 text on `conn` (json is text already)."""
    await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=encode_time,
                              decoder=decode_time, format="tuple")
