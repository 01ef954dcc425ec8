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


# jsonb refuses a \u0000 escape and half of a surrogate pair (SQLite keeps both): such an escape
# becomes U+FFFD's. Escapes are read left to right as JSON does, so an escaped backslash
# followed by "u0000" is text, and a pair is two escapes side by side.
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)", re.DOTALL)
REPLACEMENT = "\\ufffd"


def storable_json(text: str) -> str:
    """JSON text jsonb takes: a NUL escape or a lone surrogate's escape becomes U+FFFD's."""
    if "\\u" not in text:
        return text
    pieces: list[str] = []
    last = 0
    high: int | None = None  # where in `pieces` a high surrogate waits for its low half
    high_end = -1
    for escape in _ESCAPE.finditer(text):
        pieces.append(text[last:escape.start()])
        token, last = escape.group(), escape.end()
        code = int(token[2:], 16) if token[1] == "u" else -1
        if 0xDC00 <= code <= 0xDFFF and high is not None and high_end == escape.start():
            high = None  # the low half of the pair that waits: both stand
        else:
            if high is not None:
                pieces[high] = REPLACEMENT
                high = None
            if 0xD800 <= code <= 0xDBFF:
                high, high_end = len(pieces), escape.end()
            elif code == 0 or 0xDC00 <= code <= 0xDFFF:
                token = REPLACEMENT
        pieces.append(token)
    if high is not None:
        pieces[high] = REPLACEMENT
    pieces.append(text[last:])
    return "".join(pieces)


def _as_text(value: str) -> str:
    return value


async def use_store_types(conn: asyncpg.Connection) -> None:
    """Times come and go as the store's ISO 8601 text on `conn`, JSON as JSON text."""
    await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=encode_time,
                              decoder=decode_time, format="tuple")
    await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=storable_json,
                              decoder=_as_text, format="text")
