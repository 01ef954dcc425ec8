"""No server-side request forgery: URLs reelhook calls for users reach public addresses only.

The address is checked where the connection is made, on the very answer the connection uses,
so a DNS name that answers "public" to a check and "private" a moment later gains nothing.
Both HTTP stacks are covered: aiohttp (notices) through a resolver plus a socket factory that
sees the very address dialled (IP literals skip aiohttp's resolver), httpx (image downloads)
through a network backend. `check_url` refuses bad hosts early, at submit, after the same
normalisation the clients apply: yarl (aiohttp) and httpx map Unicode spellings such as
full-width digits and ideographic dots to ASCII (IDNA/NFKC), and the system's inet_aton, which
getaddrinfo uses, reads decimal, octal, hex and shortened IPv4 forms ("2130706433", "0177.0.0.1",
"0x7f.0.0.1", "127.1") as 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
from collections.abc import Iterable, Set
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

SLACK_WEBHOOK_HOST = "hooks.slack.com"


class BlockedAddress(OSError):
    """The URL leads to a loopback, private, link-local or otherwise non-public address."""


def is_public(address: str) -> bool:
    """True for a globally routable unicast address (not loopback, private, link-local,
    metadata, shared, reserved or multicast)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _IPV4_COMPATIBLE:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return all(is_public(str(inner)) for inner in embedded)
    return ip.is_global and not ip.is_multicast


_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...] | None:
    """IPv4 addresses an IPv6 address leads to (mapped, NAT64, 6to4, Teredo), if any."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip in _NAT64:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo
    return None


def check_url(
    url: str, *, allow_private: bool, trusted: Set[tuple[str, int]] = frozenset()
) -> None:
    """Refuse URLs that are not http(s), or whose host, as either HTTP client would dial it, is
    this machine or a non-public IP address; (host, port) pairs in `trusted` (the operator's
    REELHOOK_TRUSTED_HOSTS) pass as they are."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedAddress("only http(s) URLs with a host are allowed")
    if allow_private or _is_trusted(url, trusted):
        return
    for host in dialled_hosts(url):
        if _names_this_machine(host):
            raise BlockedAddress("URL points at this machine; private addresses are not allowed")
        address = ip_literal(host)
        if address is not None and not is_public(address):
            raise BlockedAddress(
                "URL points at a private address; private addresses are not allowed"
            )


def dialled_hosts(url: str) -> set[str]:
    """The URL's host as written and as aiohttp (yarl) and httpx normalise it, lowercased and
    without trailing dots; BlockedAddress when a client cannot read it at all."""
    written = urlsplit(url).hostname or ""
    try:
        hosts = {written, yarl.URL(url).host or ""}
    except (ValueError, UnicodeError) as exc:
        raise BlockedAddress("the URL's host is not valid") from exc
    import httpx  # here: a process that never checks a URL need not load it

    with contextlib.suppress(httpx.InvalidURL):  # httpx will not dial it either
        hosts.add(httpx.URL(url).host)
    return {host.lower().rstrip(".") for host in hosts if host}


def is_loopback_host(host: str) -> bool:
    """localhost (or a name under it) or a loopback address, numeric IPv4 forms included."""
    if _names_this_machine(host.lower().rstrip(".")):
        return True
    address = ip_literal(host)
    return address is not None and ipaddress.ip_address(address).is_loopback


def _names_this_machine(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def ip_literal(host: str) -> str | None:
    """The IP address a host names without DNS (numeric IPv4 forms included), or None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    if not host.isascii():
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def check_slack_url(
    url: str, *, allow_private: bool, trusted: Set[tuple[str, int]] = frozenset()
) -> None:
    """Slack destinations must be on Slack's webhook host (unless private URLs are allowed, or
    the host is one the operator trusts: a relay of their own)."""
    check_url(url, allow_private=allow_private, trusted=trusted)
    if allow_private or _is_trusted(url, trusted):
        return
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.hostname != SLACK_WEBHOOK_HOST:
        raise BlockedAddress(f"Slack URLs must be https://{SLACK_WEBHOOK_HOST}/...")


def _is_trusted(url: str, trusted: Set[tuple[str, int]]) -> bool:
    try:
        return bool(trusted) and host_and_port(url) in trusted
    except ValueError:  # a port that is not a number: no host of anyone's
        return False


def host_and_port(url: str) -> tuple[str, int]:
    """The (host, port) a URL connects to, default ports filled in."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def public_only(addresses: Iterable[str], host: str) -> list[str]:
    """The public addresses among a DNS answer; BlockedAddress when there are none."""
    allowed = [address for address in addresses if is_public(address)]
    if not allowed:
        raise BlockedAddress(f"{host} resolves only to non-public addresses")
    return allowed


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that drops non-public answers; the connector dials what it returns.
    (host, port) pairs in `trusted` (the operator's own URLs) resolve as they are, and their
    answers are added to `dialable` for the socket factory."""

    def __init__(
        self,
        inner: AbstractResolver | None = None,
        trusted: frozenset[tuple[str, int]] = frozenset(),
        dialable: set[tuple[str, int]] | None = None,
    ) -> None:
        self._inner = inner or aiohttp.ThreadedResolver()
        self._trusted = trusted
        self._dialable = dialable if dialable is not None else set()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        if (host, port) in self._trusted:
            self._dialable.update((answer["host"], port) for answer in answers)
            return answers
        allowed = set(public_only((answer["host"] for answer in answers), host))
        return [answer for answer in answers if answer["host"] in allowed]

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket(
    addr_info: tuple[Any, ...], dialable: Set[tuple[str, int]] = frozenset()
) -> socket.socket:
    """aiohttp's socket factory: refuse to dial a non-public address (unless it is one of the
    operator's, in `dialable`). This sees every address the connector dials, IP literals too,
    which never reach the resolver."""
    family, kind, proto, _, sockaddr = addr_info
    address, port = str(sockaddr[0]), int(sockaddr[1])
    if (address, port) not in dialable and not is_public(address):
        raise BlockedAddress(f"{address} is not a public address")
    return socket.socket(family=family, type=kind, proto=proto)


def guarded_connector(
    *, allow_private: bool, trusted: Iterable[tuple[str, int]] = ()
) -> aiohttp.TCPConnector:
    """A connector for user URLs; with allow_private, an ordinary one. (host, port) pairs in
    `trusted` (the operator's own notice URLs) are dialled as configured."""
    if allow_private:
        return aiohttp.TCPConnector()
    names = frozenset(trusted)
    dialable = {(literal, port) for host, port in names if (literal := ip_literal(host))}
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(trusted=names, dialable=dialable),
        socket_factory=functools.partial(guarded_socket, dialable=dialable),
    )


async def public_address(host: str, port: int) -> str:
    literal = ip_literal(host)
    if literal is not None:  # checked as such, never handed to a resolver
        return public_only([literal], host)[0]
    answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return public_only((str(answer[4][0]) for answer in answers), host)[0]
