"""PostgreSQL's own types as the store's text. timestamptz: the store's one time text, ISO 8601
UTC with milliseconds (store.models.iso_of), read and written the same on both databases; the
codec works on the wire's microseconds, so neither the session's TimeZone nor its DateStyle
changes a value. jsonb: JSON text, with the escapes jsonb cannot hold made storable."""

from __future__ import annotations

import re
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


# jsonb refuses a \u0000 escape and half of a surrogate pair (SQLite keeps both). Each pattern
# finds one such escape whose backslash is not itself escaped; each becomes \ufffd (U+FFFD).
_HIGH, _LOW = r"\\u[dD][89abAB][0-9a-fA-F]{2}", r"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_UNESCAPED = r"(?<!\\)((?:\\\\)*)"
UNSTORABLE_ESCAPES = (
    _UNESCAPED + r"\\u0000",
    _UNESCAPED + _HIGH + f"(?!{_LOW})",
    f"(?<!{_HIGH})" + _UNESCAPED + _LOW,
)
REPLACEMENT = r"\1\\ufffd"  # the unescaped backslashes before it, then U+FFFD's escape
_UNSTORABLE = tuple(re.compile(pattern) for pattern in UNSTORABLE_ESCAPES)


def storable_json(text: str) -> str:
    """JSON text jsonb takes: a NUL escape or a lone surrogate's escape becomes U+FFFD's."""
    if "\\u" not in text:
        return text
    for pattern in _UNSTORABLE:
        text = pattern.sub(REPLACEMENT, text)
    return text


def _as_text(value: str) -> str:
    return value


async def use_store_types(conn: asyncpg.Connection) -> None:
    """Times come and go as the store's ISO 8601 text on `conn`, JSON as JSON text."""
    await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=encode_time,
                              decoder=decode_time, format="tuple")
    await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=storable_json,
                              decoder=_as_text, format="text")
