"""A fair share per destination: one client's hanging webhook endpoint takes at most
REELHOOK_SENDS_PER_DESTINATION of the worker's slots, so other clients' notices still go out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from dispatcher.config import DispatchConfig
from dispatcher.netguard import host_and_port
from dispatcher.worker import Worker
from receiver.sandbox.providers import LocalServer
from receiver.services.secrets import SecretBox, new_fernet_key
from store import EventIn, NewDestination, NewTask, Observation, SqliteStore
from tests.dispatcher.test_worker_rounds import finished_tasks, running
from tests.helpers import WEBHOOK_SECRET, skyreels, until, wait_for_status


class HangingEndpoint:
    """A webhook receiver that holds every request until released, counting those it holds."""

    def __init__(self) -> None:
        self.holding = 0
        self.most = 0
        self.released = asyncio.Event()
        self.url = ""

    async def receive(self, request: web.Request) -> web.Response:
        await request.read()
        self.holding += 1
        self.most = max(self.most, self.holding)
        try:
            await self.released.wait()
        finally:
            self.holding -= 1
        return web.Response(text="ok")


@pytest.fixture
async def hanging(trusted_peers: set[tuple[str, int]]) -> AsyncIterator[HangingEndpoint]:
    endpoint = HangingEndpoint()
    app = web.Application()
    app.router.add_post("/hook", endpoint.receive)
    server = await LocalServer(app).start()
    endpoint.url = f"{server.url}/hook"
    trusted_peers.add(host_and_port(endpoint.url))
    yield endpoint
    endpoint.released.set()
    await server.stop()


async def test_a_hanging_endpoint_leaves_the_other_clients_their_notices(
    start_app: Any, hanging: HangingEndpoint, webhook_sink: Any
) -> None:
    client = await start_app(delivery_timeout=30.0, dispatch_interval=0.02,
                             sends_per_destination=5)
    slow = [{"channel": "webhook", "url": hanging.url, "secret": WEBHOOK_SECRET}]
    for _ in range(30):
        task = await (await client.post("/v1/tasks", json=skyreels(notify=slow))).json()
        await wait_for_status(client, task["id"])
    await until(lambda: hanging.holding == 5, what="five sends held by the hanging endpoint")
    fast = [{"channel": "webhook", "url": webhook_sink.url, "secret": WEBHOOK_SECRET}]
    other = await (await client.post("/v1/tasks", json=skyreels(notify=fast))).json()
    await until(lambda: len(webhook_sink.accepted) == 1, what="the other client's notice")
    assert webhook_sink.accepted[0].body["data"]["id"] == other["id"]
    assert hanging.most == 5 and hanging.holding == 5  # never more; still hanging
    hanging.released.set()
    await until(lambda: hanging.most == 5 and hanging.holding == 0, timeout=20,
                what="the hanging sends ended")


async def test_a_route_at_its_share_does_not_fill_every_read_of_due_notices(
    tmp_path: Any, hanging: HangingEndpoint, webhook_sink: Any
) -> None:
    """More notices for the hanging route than a worker reads at a time: the others are still
    read, and sent."""
    box = SecretBox(new_fernet_key().encode())
    store = await SqliteStore.open(str(tmp_path / "r.db"))
    try:
        await finished_tasks(store, box, "webhook", {"url": hanging.url,
                                                     "secret": WEBHOOK_SECRET}, 30)
        target = {"url": webhook_sink.url, "secret": WEBHOOK_SECRET}
        sealed = box.encrypt(json.dumps(target))
        other = NewDestination("webhook", sealed, "other", "other-route")
        await store.create_task(NewTask("tsk_" + "f" * 28, "piapi", "Qubico/skyreels", {},
                                        destinations=(other,)))
        await store.record_event("tsk_" + "f" * 28, EventIn(
            "done", "poll", Observation("succeeded", 100, "https://videos.example.com/v.mp4")))
        config = DispatchConfig(decrypt=box.decrypt, timeout=30.0, poll_interval=0.05,
                                claim_limit=10, per_destination=5)
        async with running(Worker(store.outbox, config)):
            await until(lambda: hanging.holding == 5, what="five hanging sends")
            await until(lambda: len(webhook_sink.accepted) == 1, what="the other notice")
            assert hanging.most == 5
            hanging.released.set()
    finally:
        await store.close()
