"""A TCP proxy on loopback in front of a real server, for faults caused for real: `freeze()`
stops passing bytes both ways (a database that hangs, a network cut without a reset), `thaw()`
lets them flow again, `cut()` closes every connection (a restart, a failover), `refuse()` closes
each new one at once (a server that is down) until `accept()`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    """Forwards every connection on its own port to `target`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._refusing = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> TcpProxy:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        self.thaw()
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url_for(self, url: str) -> str:
        """`url` (a postgresql:// URL of the target) reaching it through this proxy."""
        parts = urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit((parts.scheme, f"{user}127.0.0.1:{self.port}", parts.path,
                           parts.query, parts.fragment))

    def freeze(self) -> None:
        """Stop passing bytes; connections stay open, as with a hung server."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Pass bytes again."""
        self._flowing.set()

    def refuse(self) -> None:
        """Close every new connection at once, as a server that is down."""
        self._refusing = True

    def accept(self) -> None:
        """Take new connections again."""
        self._refusing = False

    def cut(self) -> None:
        """Close every connection through the proxy."""
        for writer in list(self._writers):
            writer.close()

    async def _accept(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
                      ) -> None:
        await self._flowing.wait()
        if self._refusing:
            client_out.close()
            return
        try:
            server_in, server_out = await asyncio.open_connection(*self.target)
        except OSError:
            client_out.close()
            return
        self._writers.update((client_out, server_out))
        await asyncio.gather(self._pump(client_in, server_out), self._pump(server_in, client_out),
                             return_exceptions=True)
        for writer in (client_out, server_out):
            self._writers.discard(writer)
            writer.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()


@contextlib.asynccontextmanager
async def proxy_to(url: str) -> AsyncIterator[TcpProxy]:
    """A started proxy in front of the server of `url`."""
    parts = urlsplit(url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    try:
        yield proxy
    finally:
        await proxy.stop()
