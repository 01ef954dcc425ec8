"""The outbox worker never sends a notice twice because of a graceful stop or a failed record."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import replace
from typing import Any

from dispatcher.sinks import Answer
from dispatcher.worker import Worker
from receiver import keys
from receiver.dispatching import dispatch_config
from store import Store
from tests.conftest import FAST_RETRIES, skyreels, wait_for_status


def _worker(client: Any, outbox: Any = None) -> Worker:
    app = client.app
    config = replace(dispatch_config(app[keys.SETTINGS], app[keys.SECRETS]), timeout=5.0)
    return Worker(outbox or app[keys.STORE].outbox, config)


async def _deliveries(client: Any, task_id: str) -> list[dict[str, Any]]:
    body = await (await client.get(f"/v1/tasks/{task_id}/deliveries")).json()
    return list(body["deliveries"])


async def _done_task(client: Any, webhook_sink: Any) -> dict[str, Any]:
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret}]
    task = await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json()
    await wait_for_status(client, task["id"])
    return dict(task)


async def test_stopped_worker_lets_the_send_under_way_finish(
    start_app: Any, webhook_sink: Any
) -> None:
    client = await start_app(run_worker=False, **FAST_RETRIES)
    task = await _done_task(client, webhook_sink)
    webhook_sink.script = [Answer(200, delay=0.3)]
    first = asyncio.create_task(_worker(client).run())
    await webhook_sink.wait_until(lambda: len(webhook_sink.received) == 1)
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    [delivery] = await _deliveries(client, task["id"])
    assert delivery["status"] == "delivered"

    await _worker(client).run_until_idle()
    assert len(webhook_sink.received) == 1


async def test_failed_record_is_retried_not_resent(
    start_app: Any, webhook_sink: Any, db_path: str
) -> None:
    client = await start_app(run_worker=False, **FAST_RETRIES)
    task = await _done_task(client, webhook_sink)
    webhook_sink.script = [Answer(200, delay=0.3)]
    store = await Store.open(db_path, busy_timeout=0.05)
    lock = sqlite3.connect(db_path, isolation_level=None)
    try:
        running = asyncio.create_task(_worker(client, store.outbox).run_until_idle())
        await webhook_sink.wait_until(lambda: len(webhook_sink.received) == 1)
        lock.execute("BEGIN IMMEDIATE")  # the answer comes while nobody else can write
        await asyncio.sleep(0.8)  # long enough for recording the attempt to fail a few times
        lock.execute("COMMIT")
        await running
    finally:
        lock.close()
        await store.close()
    [delivery] = await _deliveries(client, task["id"])
    assert delivery["status"] == "delivered"
    assert len(webhook_sink.received) == 1
