"""Calling a provider over HTTP and turning failures into ProviderErrors."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from receiver.providers.errors import (
    ProviderBusy,
    ProviderProtocolError,
    ProviderRejected,
    ProviderUnavailable,
)

if TYPE_CHECKING:
    import httpx

MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a provider's answer, as sent and once decompressed


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    reason: str


async def call_json(
    client: httpx.AsyncClient, method: str, url: str, *, timeout: float, **kwargs: Any
) -> Any:
    """Send one request and return the decoded JSON answer; raise on network errors and 5xx.
    `timeout` bounds the whole call (a provider that drips its answer byte by byte included);
    one that waits half of it for a free connection sends nothing (ProviderBusy). Answers past
    MAX_ANSWER_BYTES, compressed or not, are refused while they are read."""
    import httpx  # at the first call, not at start: callbacks read with this module need none

    limits = httpx.Timeout(timeout, pool=timeout / 2)
    try:
        async with asyncio.timeout(timeout):
            answer = await _exchange(client, method, url, limits, kwargs)
    except TimeoutError as exc:
        raise ProviderUnavailable(
            f"timed out after {timeout:g} s calling {method} {url}: no whole answer") from exc
    except httpx.PoolTimeout as exc:  # nothing was sent: the provider is not to blame
        raise ProviderBusy(
            f"every connection to {_origin(url)} stayed in use for {timeout / 2:g} s"
            " (REELHOOK_PROVIDER_CONNECTIONS); nothing was sent"
        ) from exc
    except httpx.TimeoutException as exc:
        raise ProviderUnavailable(f"timed out after {timeout:g} s calling {method} {url}") from exc
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"could not reach {url}: {type(exc).__name__}") from exc
    if answer.status == 429:
        raise ProviderBusy(_message(answer), retry_after=_retry_after(answer))
    if answer.status >= 500:
        raise ProviderUnavailable(f"provider answered {answer.status}: {_message(answer)}")
    if answer.status >= 400:
        raise ProviderRejected(f"provider answered {answer.status}: {_message(answer)}")
    try:
        return loads_strict(answer.body)
    except (ValueError, RecursionError) as exc:  # nesting past the decoder's depth included
        raise ProviderProtocolError(f"provider answered with non-JSON from {url}") from exc


async def _exchange(client: httpx.AsyncClient, method: str, url: str, limits: httpx.Timeout,
                    kwargs: dict[str, Any]) -> _Answer:
    async with client.stream(method, url, timeout=limits, **kwargs) as response:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise _too_large(url)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_ANSWER_BYTES or response.num_bytes_downloaded > MAX_ANSWER_BYTES:
                raise _too_large(url)
            chunks.append(chunk)
        return _Answer(response.status_code, response.headers, b"".join(chunks),
                       response.reason_phrase)


def _too_large(url: str) -> ProviderProtocolError:
    return ProviderProtocolError(
        f"the answer from {_origin(url)} is larger than {MAX_ANSWER_BYTES} bytes; not read")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


# orjson reads integers beyond 64 bits as floats; text with such a run of digits goes to the
# standard library, which keeps them exact as before. (A translate and a find cost ~1 µs for a
# callback; a regex scan of the same text takes ~10.)
_DIGITS_AS_ZERO = bytes(ord("0") if chr(c).isdigit() and c < 128 else ord(" ") for c in range(256))
_LONG_RUN = b"0" * 19


def loads_strict(data: str | bytes) -> Any:
    """JSON that refuses NaN, Infinity and numbers too large for a float (ValueError).

    orjson decodes; whatever it refuses (or would read differently) goes to the standard library,
    so every input gets the same value, or the same error, as with `json` alone.
    """
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    if _LONG_RUN not in raw.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


def body_hash(body: bytes | str) -> str:
    """A short stable hash of a payload, for deduplication keys."""
    data = body.encode() if isinstance(body, str) else body
    return hashlib.sha256(data).hexdigest()[:32]


_COMPACT = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def compact(value: Any) -> str:
    """JSON text of a value with secrets blanked, for storing a payload."""
    return canonical(scrub(value))


def canonical(value: Any) -> str:
    """Compact JSON with sorted keys: orjson, or the standard library for what orjson refuses
    (integers beyond 64 bits, lone surrogates, keys that are not strings)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return _COMPACT.encode(value)


def compact_known(value: Any, body: bytes, path: Sequence[str]) -> str:
    """compact(value) for a body whose one secret sits at `path` (a provider's known shape):
    when `body` has no other secret-sounding word, that value is blanked in place and nothing
    else is walked. Otherwise (or when `path` is not there) every key is checked, as compact."""
    if body.isascii() and b"\\u" not in body and _secret_words_in(body) == 1:
        # ASCII without \\u escapes: every key is spelled in the body as it will be compared,
        # so the one match is the only secret-sounding key there is.
        *parents, leaf = path
        node = value
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and _sounds_secret(leaf) and leaf in node:
            if node[leaf]:
                node[leaf] = "[redacted]"
            return canonical(value)
    return compact(value)


_SECRET_WORDS = ("secret", "token", "api_key", "apikey", "password")
_SECRET_WORDS_BYTES = tuple(word.encode() for word in _SECRET_WORDS)


def _secret_words_in(body: bytes) -> int:
    """How often a secret-sounding word occurs in `body`, in any case (no word holds another)."""
    lowered = body.lower()
    count = 0
    for word in _SECRET_WORDS_BYTES:  # a loop, not sum(genexpr): this runs for every callback
        count += lowered.count(word)
    return count


def scrub(value: Any) -> Any:
    """A copy with every value under a secret-sounding key replaced by "[redacted]"."""
    if isinstance(value, dict):
        return {
            key: "[redacted]" if item and _sounds_secret(key)
            else scrub(item) if isinstance(item, dict | list) else item
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [scrub(item) if isinstance(item, dict | list) else item for item in value]
    return value


@functools.lru_cache(maxsize=4096)  # callbacks repeat the same few keys; this is per-callback work
def _sounds_secret(key: Any) -> bool:
    lowered = str(key).lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _message(answer: _Answer) -> str:
    text = answer.body[:200].decode("utf-8", "replace")
    try:
        data = loads_strict(answer.body)
    except ValueError:
        return text or answer.reason
    if isinstance(data, dict):
        for key in ("message", "error", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value[:500]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:500]
    return text


def _retry_after(answer: _Answer) -> float | None:
    value = answer.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>|]+")


def safe_url(url: str) -> str:
    """A URL fit to show: user-info, query and fragment (presigned signatures, tokens) cut."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a URL)"
    hidden = "?…" if parts.query or parts.fragment or parts.username or parts.password else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{hidden}"


def redact_urls(text: str) -> str:
    """The text with every URL in it shown as `safe_url` shows it."""
    return _URL.sub(lambda match: safe_url(match.group(0)), text)
