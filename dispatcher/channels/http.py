"""One HTTP POST for the HTTP channels, with failures turned into our own errors."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from dispatcher.errors import ConfigError, Refused, Unreachable
from dispatcher.netguard import BlockedAddress
from dispatcher.retry import parse_retry_after


@dataclass(frozen=True)
class Answer:
    """What the receiving end said: status, the start of the body, and Retry-After in seconds."""

    status: int
    text: str
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
) -> Answer:
    """POST once, redirects not followed; Unreachable when no answer came.

    Error messages never contain the URL: destination URLs are secrets.
    """
    try:
        async with session.post(
            url, data=body, headers=headers, allow_redirects=False, timeout=_timeout(timeout)
        ) as response:
            text = (await response.content.read(2048)).decode("utf-8", "replace")
            wait = parse_retry_after(response.headers.get("Retry-After"), time.time())
            return Answer(response.status, text[:500], wait)
    except TimeoutError:
        raise Unreachable(f"no answer within {timeout:g} s", timeout=True) from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        if isinstance(exc, BlockedAddress) or isinstance(
            getattr(exc, "os_error", None), BlockedAddress
        ):
            raise ConfigError("destination resolves only to non-public addresses") from None
        raise Unreachable(f"cannot connect: {_describe(exc)}") from None


@functools.lru_cache(maxsize=16)
def _timeout(total: float) -> aiohttp.ClientTimeout:
    """The (immutable) ClientTimeout for `total` seconds, made once."""
    return aiohttp.ClientTimeout(total=total)


def refused(answer: Answer) -> Refused:
    """The error for a non-2xx answer."""
    snippet = " ".join(answer.text.split())[:200]
    message = f"HTTP {answer.status}: {snippet}" if snippet else f"HTTP {answer.status}"
    return Refused(message, answer.status, retry_after=answer.retry_after)


def _describe(exc: BaseException) -> str:
    reason = getattr(getattr(exc, "os_error", None), "strerror", None)
    return f"{type(exc).__name__} ({reason})" if reason else type(exc).__name__
