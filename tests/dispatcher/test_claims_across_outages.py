"""A database outage longer than the claim lease, cut while notices are being sent, sends no
notice twice: two live workers, whose sends ended but could not be recorded, renew their claims
when the database is back before either takes over the other's; every attempt is counted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator

from aiohttp import web

from dispatcher.config import DispatchConfig
from dispatcher.worker import Worker
from receiver.sandbox.providers import LocalServer
from receiver.services.secrets import SecretBox, new_fernet_key
from store import (
    DatabaseTimeouts,
    EventIn,
    NewDestination,
    NewTask,
    Observation,
    TaskStore,
    open_store,
)
from tests.databases import fresh_postgres
from tests.helpers import until
from tests.tcp_proxy import TcpProxy, proxy_to

NOTICES = 8
SEND_TIMEOUT = 1.0  # the lease is 2 * 1 + 1 = 3 s
OUTAGE = 5.0  # longer than the lease
QUICK = DatabaseTimeouts(statement=1.0, lock=0.5, idle_in_transaction=5.0)


class OutageAtFirstNotice:
    """A webhook receiver that, on the first notice it gets, takes the database down for
    OUTAGE seconds (every connection cut, new ones refused), then answers 204 to everything."""

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy
        self.received: Counter[str] = Counter()
        self._outage: asyncio.Task[None] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received[body["data"]["id"]] += 1
        if self._outage is None:
            self._outage = asyncio.create_task(self._take_database_away())
        return web.Response(status=204)

    async def _take_database_away(self) -> None:
        self.proxy.refuse()
        self.proxy.cut()
        await asyncio.sleep(OUTAGE)
        self.proxy.accept()


@contextlib.asynccontextmanager
async def running(workers: list[Worker]) -> AsyncIterator[None]:
    jobs = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        yield
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)


async def queue_notices(store: TaskStore, box: SecretBox, url: str) -> list[str]:
    """NOTICES failed tasks, each with one webhook notice due; their ids."""
    target = box.encrypt(json.dumps({"url": url, "secret": "whsec_" + "QUJD" * 8}))
    ids = [f"tsk_{number:028d}" for number in range(NOTICES)]
    for task_id in ids:
        hook = NewDestination("webhook", target, "hook", f"route-{task_id}")
        await store.create_task(NewTask(task_id, "wave", "skyreels-v4-fast", {},
                                        destinations=(hook,)))
        failed = EventIn("cb", "callback", Observation("failed", error="out of credits"))
        await store.record_event(task_id, failed)
    return ids


async def test_an_outage_longer_than_the_lease_sends_no_notice_twice() -> None:
    box = SecretBox(new_fernet_key().encode())
    config = DispatchConfig(decrypt=box.decrypt, timeout=SEND_TIMEOUT, poll_interval=0.1,
                            allow_private=True)
    async with fresh_postgres() as url, proxy_to(url) as proxy:
        sink = OutageAtFirstNotice(proxy)
        async with LocalServer(sink.app()) as server:
            direct = await open_store(url, migrate=False)
            ids = await queue_notices(direct, box, f"{server.url}/hook")
            through = [await open_store(proxy.url_for(url), migrate=False, timeouts=QUICK)
                       for _ in range(2)]
            workers = [Worker(store.outbox, config, owner=f"worker-{n}")
                       for n, store in enumerate(through)]
            started = time.monotonic()
            async with running(workers):
                await until(lambda: set(sink.received) == set(ids), timeout=60,
                            what="every notice received")
                await until(lambda: all_delivered(direct), timeout=60,
                            what="every notice recorded as delivered")
            assert time.monotonic() - started > OUTAGE  # the outage did happen meanwhile
            for store in through:
                await store.close()
            deliveries = await direct.outbox.deliveries()
            await direct.close()
    assert sink.received == Counter({task_id: 1 for task_id in ids})  # none twice
    assert {(d["status"], d["attempts"], len(d["attempt_log"])) for d in deliveries} == {
        ("delivered", 1, 1)
    }


async def all_delivered(store: TaskStore) -> bool:
    deliveries = await store.outbox.deliveries()
    return bool(deliveries) and all(d["status"] == "delivered" for d in deliveries)
