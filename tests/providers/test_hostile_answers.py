"""Provider answers are bounded in time and size: a provider that drips its answer, one that
answers hundreds of megabytes, and a gzip bomb each end the call with a clear error, while
memory stays flat. The fake provider is a real aiohttp server on loopback, called with the
address guard on (its base URL trusted as configured, as in production)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from receiver.providers.http import MAX_ANSWER_BYTES
from receiver.sandbox.providers import LocalServer
from receiver.settings import ProviderSettings, Settings
from tests.helpers import skyreels

BOMB = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB as ~64 KiB


async def drip(request: web.Request) -> web.StreamResponse:
    """Headers at once, then one byte every 0.2 s: no read ever times out."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    for byte in b'{"code": 200, "data": {"task_id": "x"}}' * 100:
        await response.write(bytes([byte]))
        await asyncio.sleep(0.2)
    return response


async def bloat(request: web.Request) -> web.StreamResponse:
    """A 200 MiB JSON answer, streamed without a length."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(b'{"code": 200, "data": {"task_id": "x", "padding": "')
    chunk = b"a" * (1024 * 1024)
    for _ in range(200):
        await response.write(chunk)
    await response.write(b'"}}')
    return response


async def bomb(request: web.Request) -> web.Response:
    """A small gzip body that inflates to 64 MiB."""
    return web.Response(body=BOMB, headers={"Content-Type": "application/json",
                                            "Content-Encoding": "gzip"})


@pytest.fixture(params=["drip", "bloat", "bomb"])
async def hostile(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    handler = {"drip": drip, "bloat": bloat, "bomb": bomb}[request.param]
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = LocalServer(app)
    await server.start()
    try:
        yield request.param, server.url
    finally:
        await server.stop()


async def test_a_hostile_answer_ends_the_call_with_a_clear_error(
    start_app: Any, settings: Settings, hostile: tuple[str, str]
) -> None:
    kind, url = hostile
    providers = {**settings.providers, "piapi": ProviderSettings("hostile-key", url)}
    client = await start_app(providers=providers, allow_private_urls=False, provider_timeout=2.0)
    # The drip would take 13 minutes to finish; the answers would take 200 and 64 MiB.
    answer = await asyncio.wait_for(client.post("/v1/tasks", json=skyreels()), timeout=30)
    task = await answer.json()
    assert task["status"] == "failed", task
    if kind == "drip":
        assert "timed out after 2 s" in task["error"] and "no whole answer" in task["error"]
    else:
        assert f"larger than {MAX_ANSWER_BYTES} bytes" in task["error"]
