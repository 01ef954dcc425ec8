"""Reading request bodies with a size limit, and decoding JSON strictly."""

from __future__ import annotations

import sys
from typing import Any

from aiohttp import web

from receiver.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMedia
from receiver.providers.http import loads_strict

MAX_JSON_DEPTH = 32
MAX_JSON_VALUES = 100_000  # commas and opening brackets in a body: far past any real request
# Bodies past this size are decoded and checked in a thread, not on the event loop.
OFF_LOOP_BYTES = 256 * 1024
NO_BODY_LIMIT = 64 * 1024  # what a route that takes no body reads before refusing it


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit} bytes")
    if declared is not None:
        return await request.read()  # the parser stops at Content-Length, already checked
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# Labels that say only "bytes": what HTTP clients send for a body they were given no type for.
UNLABELLED = frozenset({"application/octet-stream"})


def refuse_other_media(request: web.Request) -> None:
    """415 when a request says its body is something other than JSON (application/json or a
    +json type); one that says nothing, or only that it is bytes, is read as JSON, as senders
    that omit the type mean."""
    if "Content-Type" not in request.headers:
        return
    kind = request.content_type
    if kind in UNLABELLED:
        return
    if kind != "application/json" and not kind.endswith("+json"):
        raise UnsupportedMedia(
            f"Content-Type must be application/json; got {kind}", field="Content-Type"
        )


async def refuse_any_body(request: web.Request) -> None:
    """For a route that takes no body: none, an empty one, `{}` or `null` pass; malformed JSON
    is 400, anything else 422 naming the first field (the request then changes nothing)."""
    if not request.body_exists:
        return
    raw = await read_limited(request, NO_BODY_LIMIT)
    if not raw.strip():
        return
    refuse_other_media(request)
    value = decode_json(raw)
    if value is None or value == {}:
        return
    name = sorted(value)[0][:60] if isinstance(value, dict) else "body"
    raise Unprocessable(f"this route takes no body (send none, or {{}}); got {name!r}",
                        field=name)


def _reason(error: ValueError) -> str:
    """What was wrong, in the body's terms (Python's own limit names its remedy, not ours)."""
    if "integer string conversion" in str(error):
        return f"a number has more than {sys.get_int_max_str_digits()} digits"
    return str(error)


def decode_json(raw: bytes) -> Any:
    """Decode UTF-8 JSON; 400 with a reason when it is not, when it nests too deeply, or when
    it holds more than MAX_JSON_VALUES values (counted before decoding, in C)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("body is not valid UTF-8", field="body") from exc
    # Millions of small values took seconds to build and to collect, the event loop's too (the
    # collector runs in whichever thread allocates). Commas and brackets bound their number.
    separators = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
    if separators > MAX_JSON_VALUES:
        raise BadRequest(
            f"body holds more than {MAX_JSON_VALUES} JSON values (about {separators});"
            " a task needs far fewer", field="body",
        )
    try:
        value = loads_strict(text)
    except RecursionError:
        value = _TOO_DEEP
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {_reason(exc)}", field="body") from exc
    if value is _TOO_DEEP or _deeper_than(value, MAX_JSON_DEPTH):
        raise BadRequest(f"body nests deeper than {MAX_JSON_DEPTH} levels", field="body")
    return value


_TOO_DEEP = object()


def _deeper_than(value: Any, limit: int) -> bool:
    """True when containers nest more than `limit` levels; walks each container once."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True
