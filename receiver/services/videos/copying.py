"""One copy of a finished video: downloaded from the provider's link through the address guard
(redirects followed by hand, each one checked), capped while it streams, checked to be a video by
its first bytes, hashed, and streamed into the video store under its final key only when whole.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dispatcher.netguard import BlockedAddress, check_url, host_and_port
from receiver.services.videos.storage import VideoStore
from store import KeptCopy

if TYPE_CHECKING:
    import httpx

MAX_REDIRECTS = 5
SNIFF_BYTES = 16
CHUNK = 256 * 1024
EXTENSIONS = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm",
              "video/x-msvideo": ".avi"}


class CopyFailed(Exception):
    """No copy can be made from this link (the reason is recorded on the task)."""


class CopyLater(Exception):
    """The copy failed for now and is worth trying again (after `retry_after` seconds if the
    provider said so)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass
class Copier:
    """Copies videos into `store` with `client` (the guarded HTTP client)."""

    client: httpx.AsyncClient
    store: VideoStore
    max_bytes: int
    allow_private: bool
    trusted: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    async def copy(self, task_id: str, url: str) -> KeptCopy:
        """Copy the video at `url` for the task; CopyFailed or CopyLater when it cannot be."""
        import httpx  # here, as below: loaded by the client already, not by a process's start

        request = self.client.build_request("GET", url)
        for _ in range(MAX_REDIRECTS + 1):
            self._check(str(request.url))
            try:
                response = await self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise _network_failure(exc) from None
            try:
                if response.is_redirect and "location" in response.headers:
                    request = self.client.build_request(
                        "GET", response.url.join(response.headers["location"])
                    )
                    continue
                return await self._keep(task_id, response)
            finally:
                await response.aclose()
        raise CopyFailed(f"the video link redirected more than {MAX_REDIRECTS} times")

    def _check(self, url: str) -> None:
        if self.allow_private or host_and_port(url) in self.trusted:
            return
        try:
            check_url(url, allow_private=False)
        except BlockedAddress as exc:
            raise CopyFailed(f"the video link was refused: {exc}") from None

    async def _keep(self, task_id: str, response: httpx.Response) -> KeptCopy:
        _check_answer(response, self.max_bytes)
        body = _Body(response.aiter_bytes(CHUNK), self.max_bytes)
        content_type = await body.sniff(response.headers.get("content-type", ""))
        key = f"videos/{task_id}{EXTENSIONS.get(content_type, '.bin')}"
        try:
            await self.store.put(key, body.chunks(), content_type)
        except (CopyFailed, CopyLater):
            raise
        except Exception:
            if body.failure is not None:
                raise body.failure from None
            raise
        if body.failure is not None:
            raise body.failure
        return KeptCopy(key, body.size, body.digest.hexdigest(), content_type)


class _Body:
    """The response body, counted, capped and hashed as it streams."""

    def __init__(self, source: AsyncIterator[bytes], max_bytes: int) -> None:
        self._source = source
        self._max = max_bytes
        self._head = b""
        self.size = 0
        self.digest = hashlib.sha256()
        self.failure: Exception | None = None

    async def sniff(self, declared: str) -> str:
        """The video's type from its first bytes; CopyFailed when they are not a video."""
        import httpx

        try:
            while len(self._head) < SNIFF_BYTES:
                chunk = await self._source.__anext__()
                self._head += chunk
        except StopAsyncIteration:
            pass
        except httpx.HTTPError as exc:
            raise _network_failure(exc) from None
        found = video_type(self._head)
        if found is None:
            shown = declared.split(";")[0].strip() or "no Content-Type"
            raise CopyFailed(f"the link did not answer with a video ({shown}, first bytes"
                             f" {self._head[:8]!r})")
        return found

    async def chunks(self) -> AsyncIterator[bytes]:
        """Every byte, the sniffed head first; stops with `failure` set when it goes wrong."""
        import httpx

        try:
            yield self._count(self._head)
            async for chunk in self._source:
                yield self._count(chunk)
        except httpx.HTTPError as exc:
            self.failure = _network_failure(exc)
            raise self.failure from None
        except CopyFailed as exc:
            self.failure = exc
            raise

    def _count(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.size > self._max:
            raise CopyFailed(f"the video is larger than REELHOOK_VIDEO_MAX_BYTES ({self._max})")
        self.digest.update(chunk)
        return chunk


def video_type(head: bytes) -> str | None:
    """The container of a video by its magic bytes, as a content type; None if not a video."""
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    return None


def _check_answer(response: httpx.Response, max_bytes: int) -> None:
    status = response.status_code
    if status == 429 or status >= 500:
        raise CopyLater(f"the video link answered HTTP {status}",
                        retry_after_seconds(response.headers.get("retry-after")))
    if status != 200:
        raise CopyFailed(f"the video link answered HTTP {status}")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise CopyFailed(f"the video is {int(length)} bytes; REELHOOK_VIDEO_MAX_BYTES allows"
                         f" {max_bytes}")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _network_failure(exc: BaseException) -> Exception:
    if any(isinstance(cause, BlockedAddress) for cause in _causes(exc)):
        return CopyFailed(f"the video link was refused: {exc}")
    return CopyLater(f"downloading the video failed: {type(exc).__name__}: {exc}"[:300])


def _causes(exc: BaseException | None) -> Iterable[BaseException]:
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__
