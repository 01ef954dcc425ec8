"""The httpx side of the address guard: a network backend that resolves the host itself and
dials public addresses only, the transport that uses it, and the client built from them.
Imported when a process first calls out through httpx (dispatcher/outgoing.py), not at start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from dispatcher.netguard import BlockedAddress, public_address
from dispatcher.pools import DEFAULT_CONNECTIONS
from dispatcher.tls import tls_context


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore backend that resolves the host itself and dials a public address only.
    (host, port) pairs in `trusted` (the operator's provider base URLs) are dialled as they are."""

    def __init__(self, trusted: Iterable[tuple[str, int]] = ()) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._trusted = frozenset(trusted)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            trusted = (host, port) in self._trusted
            target = host if trusted else await public_address(host, port)
        except OSError as exc:  # BlockedAddress, and DNS failures (socket.gaierror)
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return await self._inner.connect_tcp(
            target,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose connections go through GuardedBackend."""

    def __init__(
        self, trusted: Iterable[tuple[str, int]] = (), connections: int = DEFAULT_CONNECTIONS
    ) -> None:
        super().__init__(verify=tls_context(), trust_env=False)
        # httpx does not take a network backend, so the pool it built is replaced by one that
        # does; everything else about the transport stays httpx's own.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls_context(), network_backend=GuardedBackend(trusted),
            max_connections=connections, max_keepalive_connections=connections,
        )


def build_client(
    *,
    allow_private: bool,
    trusted: Iterable[tuple[str, int]] = (),
    own_pools: Iterable[str] = (),
    connections: int = DEFAULT_CONNECTIONS,
) -> httpx.AsyncClient:
    """The httpx client for providers and user URLs (`dispatcher.outgoing.outgoing_client`)."""
    # httpx logs every request's full URL at INFO, and a user's URL can carry a secret (a
    # presigned image URL's signature): its lines are left out wherever logs go.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    trusted = list(trusted)

    def pool() -> httpx.AsyncBaseTransport:
        if allow_private:
            limits = httpx.Limits(max_connections=connections,
                                  max_keepalive_connections=connections)
            return httpx.AsyncHTTPTransport(verify=tls_context(), limits=limits,
                                            trust_env=False)
        return GuardedTransport(trusted, connections)

    mounts = {_pattern(url): pool() for url in own_pools}
    return httpx.AsyncClient(transport=pool(), mounts=mounts, follow_redirects=False)


def _pattern(base_url: str) -> str:
    """The httpx mount pattern of a base URL's scheme, host and port (a default port is left
    out: httpx matches it only so)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{host}" + (f":{parts.port}" if parts.port else "")
