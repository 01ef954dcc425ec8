"""The video store: where kept copies live, through obstore (one API for a local folder, S3 and
every S3-compatible store, GCS and Azure; async streaming multipart uploads; presigned URLs).

A copy is uploaded under a temporary key and moved to its final key only once it is whole and
checked, so a copy cut off half way never leaves an object under a name anyone reads. obstore is
imported, and the store opened, at the first use: most processes start long before a video is
kept or served, and a serverless host starts one per burst (issue 24.4).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from receiver.settings.videos import CLOUD_SCHEMES

CALL_TIMEOUT = 60.0  # seconds any one call to the store may take, beyond streaming a body


class VideoStoreError(Exception):
    """The video store refused or could not be reached (retried by the keeper)."""


class VideoStore:
    """Kept copies under keys such as videos/<task id>.mp4."""

    def __init__(self, opens: Callable[[], Any], *, description: str, signs: bool) -> None:
        self._opens = opens
        self.description = description  # safe to show: no keys, no credentials
        self.signs = signs  # answers GET with a presigned URL instead of the bytes

    @classmethod
    def from_setting(cls, where: str, options: Mapping[str, str]) -> VideoStore:
        """The store REELHOOK_VIDEO_STORE names: a cloud URL, or a local folder."""
        if where.startswith(CLOUD_SCHEMES):
            config: Any = {k: v for k, v in options.items() if k != "allow_http"}
            client: Any = {"allow_http": True} if options.get("allow_http") == "true" else {}

            def cloud() -> Any:
                return _obstore().store.from_url(
                    where, config=config or None, client_options=client or None)

            return cls(cloud, description=where.split("?")[0], signs=True)
        folder = Path(where.removeprefix("file://")).expanduser()
        folder.mkdir(parents=True, exist_ok=True)  # a folder it cannot make stops the start
        return cls(lambda: _obstore().store.LocalStore(folder), description=str(folder),
                   signs=False)

    @cached_property
    def _store(self) -> Any:
        try:
            return self._opens()
        except Exception as exc:  # an option obstore refuses: retried like any store failure
            raise VideoStoreError(f"the video store cannot be opened: {_first_line(exc)}") from exc

    async def put(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> None:
        """Stream `chunks` under `key`: whole or not at all (a failure of `chunks` or of the
        store leaves nothing under `key`)."""
        staging = f"tmp/{key.replace('/', '_')}.{secrets.token_hex(6)}.part"
        try:
            # A local folder keeps no attributes (obstore refuses them there).
            attributes: Any = {"Content-Type": content_type} if self.signs else None
            await _obstore().put_async(self._store, staging, chunks, attributes=attributes)
            await self._call(_obstore().rename_async(self._store, staging, key))
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await self.delete(staging)
            if isinstance(exc, Exception) and not isinstance(exc, VideoStoreError):
                raise VideoStoreError(f"the video store failed: {_first_line(exc)}") from exc
            raise

    async def size(self, key: str) -> int | None:
        """The stored size of `key`, or None when there is no such object."""
        try:
            meta = await self._call(_obstore().head_async(self._store, key))
        except FileNotFoundError:
            return None
        return int(meta["size"])

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of `key` from `start` to `end` (exclusive; None: to the end), streamed."""
        options: Any = {}
        if start or end is not None:
            options["range"] = (start, end) if end is not None else {"offset": start}
        result = await self._call(_obstore().get_async(self._store, key, options=options))
        async for chunk in result.stream():
            yield bytes(chunk)

    async def signed_url(self, key: str, lifetime: float) -> str:
        """A presigned GET URL of `key`, valid for `lifetime` seconds (cloud stores)."""
        url: str = await self._call(
            _obstore().sign_async(self._store, "GET", key, timedelta(seconds=lifetime))
        )
        return url

    async def delete(self, key: str) -> None:
        """Remove `key` (nothing when it is not there)."""
        try:
            await self._call(_obstore().delete_async(self._store, key))
        except FileNotFoundError:
            return

    async def _call(self, call: Any) -> Any:
        try:
            return await asyncio.wait_for(call, CALL_TIMEOUT)
        except (FileNotFoundError, asyncio.CancelledError):
            raise
        except TimeoutError as exc:
            late = f"the video store did not answer in {CALL_TIMEOUT:.0f} s"
            raise VideoStoreError(late) from exc
        except Exception as exc:
            raise VideoStoreError(f"the video store failed: {_first_line(exc)}") from exc


def _obstore() -> ModuleType:
    import obstore
    import obstore.store

    return obstore


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
