"""Private addresses in other spellings: Unicode digits and dots, decimal, octal, hex, short."""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web

from dispatcher.netguard import BlockedAddress, check_url, guarded_connector
from dispatcher.outgoing import outgoing_client
from receiver.sandbox.providers import LocalServer
from tests.helpers import FAST_RETRIES, WEBHOOK_SECRET, skyreels, wait_delivered, wait_for_status

# Each is 127.0.0.1 (or 10.0.0.1) to yarl/httpx and to the system resolver.
FULL_WIDTH = "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11"  # 127.0.0.1, full-width
SPELLINGS = [
    FULL_WIDTH,  # full-width digits and dots (NFKC, yarl)
    "127\u30020\u30020\u30021",  # ideographic full stops (IDNA, yarl and httpx)
    "2130706433",  # decimal
    "0177.0.0.1",  # octal
    "0x7f.0.0.1",  # hex
    "0x7f000001",
    "127.1",  # shortened
    "012.0.0.1",  # octal 10.0.0.1
    "127.0.0.1.",  # trailing dot
    "[::ffff:127.0.0.1]",
    "LOCALHOST.",
    "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54"  # full-width localhost,
]


@pytest.mark.parametrize("host", SPELLINGS)
def test_private_hosts_are_refused_in_every_spelling(host: str) -> None:
    with pytest.raises(BlockedAddress):
        check_url(f"http://{host}:8080/hook", allow_private=False)


def test_public_numeric_forms_still_pass() -> None:
    check_url("http://1572395042/hook", allow_private=False)  # 93.184.216.34
    check_url("https://hooks.example.com/x", allow_private=False)


@pytest.fixture
async def target() -> Any:
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=500, text="internal secret page")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    async with LocalServer(app) as server:
        yield server, hits


@pytest.mark.parametrize("host", [FULL_WIDTH, "2130706433", "0177.0.0.1", "127.1"])
async def test_submit_refuses_a_webhook_to_a_spelled_loopback(
    start_app: Any, piapi_sim: Any, target: Any, host: str
) -> None:
    server, hits = target
    client = await start_app(allow_private_urls=False)
    notify = [{"channel": "webhook", "url": f"http://{host}:{server.port}/x",
               "secret": WEBHOOK_SECRET}]
    response = await client.post("/v1/tasks", json=skyreels(notify=notify))
    assert response.status == 422
    assert (await response.json())["error"]["field"] == "notify[0].url"
    assert piapi_sim.received == [] and hits == []


async def test_aiohttp_guard_checks_ip_literals_at_connect(target: Any) -> None:
    server, hits = target
    async with aiohttp.ClientSession(connector=guarded_connector(allow_private=False)) as session:
        for host in ("127.0.0.1", FULL_WIDTH, "[::1]"):
            with pytest.raises(aiohttp.ClientError):
                await session.post(f"http://{host}:{server.port}/hook", data=b"{}")
    assert hits == []


async def test_httpx_guard_checks_ip_literals_at_connect(target: Any) -> None:
    server, hits = target
    async with outgoing_client(allow_private=False) as client:
        for host in ("127.0.0.1", "127\u30020\u30020\u30021"):
            with pytest.raises(httpx.ConnectError, match="non-public"):
                await client.get(f"http://{host}:{server.port}/image.png")
    assert hits == []


async def test_a_destination_stored_while_private_was_allowed_is_refused_once_it_is_off(
    start_app: Any, target: Any
) -> None:
    server, hits = target
    first = await start_app(run_worker=False, allow_private_urls=True, **FAST_RETRIES)
    notify = [{"channel": "webhook", "url": f"{server.url}/internal", "secret": WEBHOOK_SECRET}]
    task = await (await first.post("/v1/tasks", json=skyreels(notify=notify))).json()
    await wait_for_status(first, task["id"])
    await first.close()

    second = await start_app(allow_private_urls=False, **FAST_RETRIES)
    deliveries = await wait_delivered(second, task["id"])
    assert [d["status"] for d in deliveries] == ["dead"]
    assert "private address" in str(deliveries[0]["last_error"])
    assert "internal secret page" not in str(deliveries)
    assert hits == []


@pytest.mark.parametrize("host", [FULL_WIDTH, "2130706433", "127.1", "localhost"])
async def test_submit_refuses_a_onemin_image_on_a_spelled_loopback(
    start_app: Any, onemin_sim: Any, target: Any, host: str
) -> None:
    from tests.helpers import onemin

    server, hits = target
    client = await start_app(allow_private_urls=False)
    image = f"http://{host}:{server.port}/shot.png"
    response = await client.post("/v1/tasks", json=onemin(image=image))
    assert response.status == 422
    assert (await response.json())["error"]["field"] == "image"
    assert onemin_sim.received == [] and hits == []


async def test_a_stored_slack_destination_off_slacks_host_is_refused_once_private_is_off(
    start_app: Any,
) -> None:
    first = await start_app(run_worker=False, allow_private_urls=True, **FAST_RETRIES)
    notify = [{"channel": "slack", "url": "https://hooks.example.invalid/services/T/B/X"}]
    task = await (await first.post("/v1/tasks", json=skyreels(notify=notify))).json()
    await wait_for_status(first, task["id"])
    await first.close()

    second = await start_app(allow_private_urls=False, **FAST_RETRIES)
    deliveries = await wait_delivered(second, task["id"])
    assert [d["status"] for d in deliveries] == ["dead"]
    assert "hooks.slack.com" in str(deliveries[0]["last_error"])
