"""No server-side request forgery: user URLs reach public addresses only."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from dispatcher.netguard import (
    BlockedAddress,
    GuardedResolver,
    check_slack_url,
    check_url,
    guarded_connector,
    host_and_port,
    is_public,
)
from dispatcher.outgoing import LazyClient, outgoing_client
from dispatcher.tls import preload, tls_context
from receiver.sandbox.providers import LocalServer


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("2002:a9fe:a9fe::1", False),
        ("::127.0.0.1", False),
        ("64:ff9b::5db8:d822", True),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(address) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://[::1]:8080/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "http://localhost:9000/",
        "http://api.localhost/",
        "ftp://example.com/",
        "file:///etc/passwd",
    ],
)
def test_private_and_odd_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedAddress):
        check_url(url, allow_private=False)


def test_public_names_pass_and_the_setting_allows_private() -> None:
    check_url("https://hooks.example.com/x", allow_private=False)
    check_url("http://127.0.0.1:9/x", allow_private=True)


def test_slack_urls_must_be_slacks_host() -> None:
    check_slack_url("https://hooks.slack.com/services/T/B/X", allow_private=False)
    for url in ("https://evil.example.com/services/x", "http://hooks.slack.com/services/x"):
        with pytest.raises(BlockedAddress, match=r"hooks\.slack\.com"):
            check_slack_url(url, allow_private=False)


class ScriptedResolver(AbstractResolver):
    """Answers each lookup with the next scripted list of addresses (DNS rebinding)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
            for address in self.answers.pop(0)
        ]

    async def close(self) -> None:
        return None


async def test_resolver_keeps_only_public_answers_each_time() -> None:
    guard = GuardedResolver(ScriptedResolver(["93.184.216.34", "127.0.0.1"], ["127.0.0.1"]))
    first = await guard.resolve("rebind.example", 80)
    assert [answer["host"] for answer in first] == ["93.184.216.34"]
    with pytest.raises(BlockedAddress):
        await guard.resolve("rebind.example", 80)


@pytest.fixture
async def local_target() -> Any:
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPFound("http://127.0.0.1:1/elsewhere")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    async with LocalServer(app) as server:
        yield server, hits


async def test_aiohttp_guard_never_connects_to_loopback(local_target: Any) -> None:
    server, hits = local_target
    async with aiohttp.ClientSession(connector=guarded_connector(allow_private=False)) as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.post(f"http://localhost:{server.port}/hook", data=b"{}")
    assert hits == []


async def test_httpx_guard_never_connects_to_loopback(local_target: Any) -> None:
    server, hits = local_target
    async with outgoing_client(allow_private=False) as client:
        with pytest.raises(httpx.ConnectError, match="non-public"):
            await client.get(f"http://localhost:{server.port}/image.png")
    assert hits == []


async def test_trusted_provider_hosts_and_the_setting_connect_and_redirects_are_not_followed(
    local_target: Any,
) -> None:
    server, hits = local_target
    async with outgoing_client(allow_private=False, trusted={("127.0.0.1", server.port)}) as client:
        response = await client.get(f"{server.url}/provider")
    assert response.status_code == 302
    async with outgoing_client(allow_private=True) as client:
        response = await client.get(f"http://localhost:{server.port}/allowed")
    assert response.status_code == 302
    assert hits == ["/provider", "/allowed"]



async def test_the_outgoing_client_is_made_at_its_first_use_and_closed_only_if_made(
    local_target: Any,
) -> None:
    server, hits = local_target
    unused = outgoing_client(allow_private=False)
    async with unused:
        pass
    assert isinstance(unused, LazyClient) and not unused.made
    used = outgoing_client(allow_private=False, trusted={("127.0.0.1", server.port)})
    async with used as client:
        assert isinstance(used, LazyClient) and not used.made
        assert (await client.get(f"{server.url}/first")).status_code == 302
        assert used.made
    assert used.is_closed
    with pytest.raises(RuntimeError):  # closed for good, not made again
        await used.get(f"{server.url}/after")
    assert hits == ["/first"]

@pytest.mark.parametrize(
    ("notify", "words"),
    [
        (
            {"channel": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "whsec_" + "A" * 32},
            "private",
        ),
        (
            {
                "channel": "webhook",
                "url": "http://169.254.169.254/latest",
                "secret": "whsec_" + "A" * 32,
            },
            "private",
        ),
        ({"channel": "slack", "url": "https://evil.example.com/services/T/B/X"}, "hooks.slack.com"),
    ],
)
async def test_submit_refuses_private_notify_urls(
    start_app: Any, piapi_sim: Any, notify: dict[str, str], words: str
) -> None:
    from tests.helpers import skyreels

    client = await start_app(allow_private_urls=False)
    response = await client.post("/v1/tasks", json=skyreels(notify=[notify]))
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["field"] == "notify[0].url"
    assert words in error["message"]
    assert piapi_sim.received == []


def test_every_outgoing_connection_shares_one_verifying_tls_context() -> None:
    preload()  # as serve does: loading starts in a thread
    context = tls_context()
    assert context is tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() or context.cert_store_stats()["x509_ca"] > 0


FORK_RIGHT_AFTER_PRELOAD = """
import os, signal, time
from dispatcher.tls import preload, tls_context
preload()
pid = os.fork()
if pid == 0:
    tls_context()
    os._exit(0)
for _ in range(300):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        raise SystemExit(os.waitstatus_to_exitcode(status))
    time.sleep(0.1)
os.kill(pid, signal.SIGKILL)
raise SystemExit("the forked process never got its TLS context")
"""


def test_a_process_forked_while_the_trust_store_loads_gets_the_context_too() -> None:
    # serve forks its WEB_CONCURRENCY processes just after the load starts in a thread, which
    # a child does not inherit: without waiting for it, the child's first client would hang.
    done = subprocess.run([sys.executable, "-c", FORK_RIGHT_AFTER_PRELOAD], timeout=60,
                          cwd=Path(__file__).parents[2])
    assert done.returncode == 0


async def test_trusted_hosts_reach_private_receivers_and_no_other(
    start_app: Any, piapi_sim: Any, webhook_sink: Any, slack_sink: Any
) -> None:
    """REELHOOK_TRUSTED_HOSTS lets user URLs reach exactly the private host:port pairs the
    operator names (a relay inside the network), with the address guard on for the rest."""
    from tests.helpers import skyreels, wait_delivered

    sink_host, sink_port = host_and_port(webhook_sink.url)
    client = await start_app(allow_private_urls=False,
                             trusted_hosts=frozenset({(sink_host, sink_port),
                                                      host_and_port(slack_sink.url)}))
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret},
              {"channel": "slack", "url": slack_sink.url}]
    task = await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json()
    deliveries = await wait_delivered(client, task["id"], 2)
    assert {d["status"] for d in deliveries} == {"delivered"}
    other_port = f"http://{sink_host}:{sink_port + 1}/hook"
    refused = await client.post("/v1/tasks", json=skyreels(notify=[
        {"channel": "webhook", "url": other_port, "secret": webhook_sink.secret}]))
    assert refused.status == 422
    assert (await refused.json())["error"]["field"] == "notify[0].url"
