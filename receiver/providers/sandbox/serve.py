"""Run an aiohttp app on a free loopback port."""

from __future__ import annotations

from aiohttp import web


class LocalServer:
    """An aiohttp app served on 127.0.0.1 at a free port; use with `async with`."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
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
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and self.port == 0:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        """Stop serving and run the app's cleanup."""
        await self._runner.cleanup()

    async def __aenter__(self) -> LocalServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
