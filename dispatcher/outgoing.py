"""The httpx client of providers and video downloads, made at its first use.

httpx, httpcore and anyio take ~100 ms to import, about a quarter of a bare aiohttp app's
whole start. A process that only answers callbacks and reads never calls out through httpx, and
one that does needs the client only at its first submit, poll or download, so serve answers
before paying for it (issue 24.4: serverless hosts start a process per burst).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from dispatcher.pools import DEFAULT_CONNECTIONS

if TYPE_CHECKING:
    import httpx


class LazyClient:
    """Stands in for an httpx.AsyncClient and makes it at the first use of any of its
    attributes; closing closes it only if it was made."""

    __slots__ = ("_client", "_make")

    def __init__(self, make: Callable[[], httpx.AsyncClient]) -> None:
        self._make = make
        self._client: httpx.AsyncClient | None = None

    @property
    def made(self) -> bool:
        """Whether the client has been made (by a first use)."""
        return self._client is not None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)

    async def aclose(self) -> None:
        """Close the client, if it was ever made."""
        if self._client is not None:
            await self._client.aclose()

    async def __aenter__(self) -> LazyClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()


def outgoing_client(
    *,
    allow_private: bool,
    trusted: Iterable[tuple[str, int]] = (),
    own_pools: Iterable[str] = (),
    connections: int = DEFAULT_CONNECTIONS,
) -> httpx.AsyncClient:
    """The httpx client for providers and user URLs: guarded unless private URLs are allowed.
    Each base URL in `own_pools` (a provider's) gets a pool of `connections` of its own, so
    long calls to one cannot take the connections another needs; the rest share one pool.
    Made at its first use (a LazyClient, typed as the client it stands in for)."""
    trusted, own_pools = list(trusted), list(own_pools)

    def make() -> httpx.AsyncClient:
        from dispatcher.guarded_transport import build_client

        return build_client(allow_private=allow_private, trusted=trusted, own_pools=own_pools,
                            connections=connections)

    return cast("httpx.AsyncClient", LazyClient(make))
