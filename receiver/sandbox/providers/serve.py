"""Run an aiohttp app on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import aiohttp
from aiohttp import web


class LocalServer:
    """An aiohttp app served on 127.0.0.1 at a free port (port 0), or on a socket bound
    beforehand; use with `async with`."""

    def __init__(
        self,
        app: web.Application,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port if sock is None else int(sock.getsockname()[1])
        self._sock = sock  # already bound (port known before the app was built)
        # Simulators may hold requests open on purpose (a provider that hangs); stopping must not
        # wait a minute for them.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> LocalServer:
        """Bind and start serving."""
        await self._runner.setup()
        site: web.BaseSite
        if self._sock is not None:
            site = web.SockSite(self._runner, self._sock)
        else:
            site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Stop serving and run the app's cleanup."""
        await self._runner.cleanup()

    async def __aenter__(self) -> LocalServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class Background:
    """A simulator's background jobs (tasks that progress and call back) and the HTTP session
    they call back with; `lifetime` goes into the simulator app's cleanup_ctx."""

    def __init__(self) -> None:
        self.jobs: set[asyncio.Task[None]] = set()
        self.session: aiohttp.ClientSession | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background, keeping a reference until it ends."""
        job = asyncio.get_running_loop().create_task(work)
        self.jobs.add(job)
        job.add_done_callback(self.jobs.discard)

    async def wait_idle(self) -> None:
        """Wait until every background job has ended."""
        while self.jobs:
            await asyncio.gather(*list(self.jobs), return_exceptions=True)

    async def post(self, url: str, body: str, headers: dict[str, str]) -> int | None:
        """POST a callback; the receiver's status, or None when it could not be reached."""
        if self.session is None:
            return None
        try:
            async with self.session.post(url, data=body, headers=headers) as answer:
                return answer.status
        except aiohttp.ClientError:
            return None

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        """Open the session for the app's life; on the way out stop every job, then close it."""
        self.session = aiohttp.ClientSession()
        yield
        for job in list(self.jobs):
            job.cancel()
        await asyncio.gather(*self.jobs, return_exceptions=True)
        await self.session.close()
