"""The outbox: one notice per state, resumption after a stopped or killed worker, digests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dispatcher.worker import Worker
from receiver import keys
from receiver.runtime.dispatching import dispatch_config
from receiver.sandbox.sinks import Answer
from receiver.services.secrets import new_fernet_key
from store import SqliteStore
from tests.helpers import (
    FAST_RETRIES,
    ServedReelhook,
    piapi_callback,
    post_callback,
    skyreels,
    until,
    wait_delivered,
    wait_for_status,
)


def _worker(client: Any, outbox: Any = None, **overrides: Any) -> Worker:
    """A worker on the app's store (or `outbox`), configured like the app's own."""
    app = client.app
    config = replace(dispatch_config(app[keys.SETTINGS], app[keys.SECRETS]), **overrides)
    return Worker(outbox or app[keys.STORE].outbox, config)


def _named(texts: list[str]) -> set[str]:
    return {match for text in texts for match in re.findall(r"tsk_[0-9a-f]{28}", text)}


async def test_one_state_announced_three_times_gives_one_notice(
    start_app: Any, slack_sink: Any, piapi_sim: Any
) -> None:
    piapi_sim.script.drop_callbacks = True
    client = await start_app(**FAST_RETRIES)
    body = skyreels(notify=[{"channel": "slack", "url": slack_sink.url}])
    task = await (await client.post("/v1/tasks", json=body)).json()
    secret = piapi_sim.received[-1]["body"]["config"]["webhook_config"]["secret"]
    video = {"video_url": "https://cdn.example.com/v.mp4"}
    for n in range(3):
        callback = piapi_callback(task, "completed", timestamp=1_800_000_000 + n, output=video)
        answer = await post_callback(client, f"/callbacks/piapi/{task['id']}", callback, secret)
        assert (await answer.json())["duplicate"] is False
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    assert len([e for e in events if e["provider_status"] == "completed"]) == 3
    deliveries = await wait_delivered(client, task["id"])
    assert [(d["state"], d["status"]) for d in deliveries] == [("succeeded", "delivered")]
    assert len(slack_sink.received) == 1


async def test_notify_on_adds_running(start_app: Any, slack_sink: Any) -> None:
    client = await start_app(notify_on=frozenset({"running", "succeeded"}), **FAST_RETRIES)
    body = skyreels(notify=[{"channel": "slack", "url": slack_sink.url}])
    task = await (await client.post("/v1/tasks", json=body)).json()
    deliveries = await wait_delivered(client, task["id"], 2)
    assert sorted(d["state"] for d in deliveries) == ["running", "succeeded"]
    texts = slack_sink.texts()
    assert any(t.startswith("Video in progress") for t in texts)


async def test_notify_on_queued_tells_once_the_task_is_recorded(
    start_app: Any, webhook_sink: Any, piapi_sim: Any
) -> None:
    client = await start_app(notify_on=frozenset({"queued", "succeeded"}), **FAST_RETRIES)
    body = skyreels(notify=[{"channel": "webhook", "url": webhook_sink.url,
                             "secret": webhook_sink.secret}])
    task = await (await client.post("/v1/tasks", json=body)).json()
    deliveries = await wait_delivered(client, task["id"], 2)
    assert sorted(d["state"] for d in deliveries) == ["queued", "succeeded"]
    kinds = [item.body["type"] for item in webhook_sink.accepted]
    assert sorted(kinds) == ["task.queued", "task.succeeded"]
    quiet = await (await client.post("/v1/tasks", json=skyreels(prompt="no notify"))).json()
    await wait_for_status(client, quiet["id"])
    assert await _deliveries_of(client, quiet["id"]) == []  # no destination, nothing queued


async def _deliveries_of(client: Any, task_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/v1/tasks/{task_id}/deliveries")
    return list((await answer.json())["deliveries"])


async def test_cancelled_worker_hands_back_and_next_one_delivers(
    start_app: Any, slack_sink: Any, webhook_sink: Any
) -> None:
    client = await start_app(run_worker=False, **FAST_RETRIES)
    notify = [{"channel": "slack", "url": slack_sink.url},
              {"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret}]
    tasks = [await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json()
             for _ in range(3)]
    for task in tasks:
        await wait_for_status(client, task["id"])
    slack_sink.script = [Answer(200, delay=30.0)]

    first = asyncio.create_task(_worker(client).run())
    await slack_sink.wait_until(lambda: len(slack_sink.received) == 1)
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    statuses = await _statuses(client, tasks)
    assert "sending" not in statuses and "pending" in statuses

    await _worker(client).run_until_idle()
    assert set(await _statuses(client, tasks)) == {"delivered"}
    assert _named(slack_sink.texts()) == {task["id"] for task in tasks}
    assert {item.body["data"]["id"] for item in webhook_sink.accepted} == {t["id"] for t in tasks}


async def test_worker_stopped_while_its_claim_commits_hands_the_claim_back(
    start_app: Any, webhook_sink: Any
) -> None:
    # Stopped at the one moment that made the test above flaky: its claim is in the writer's
    # queue. The claim may commit after the stop; the deliveries must still come back pending
    # at once, not sit "sending" until their lease runs out.
    client = await start_app(run_worker=False, **FAST_RETRIES)
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret}]
    task = await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json()
    await wait_for_status(client, task["id"])
    writer = client.app[keys.STORE].writer
    entered, go_on = threading.Event(), threading.Event()
    stall = asyncio.ensure_future(writer.run(lambda conn: (entered.set(), go_on.wait())))
    await asyncio.to_thread(entered.wait)
    worker = asyncio.create_task(_worker(client).run())
    await until(lambda: writer.waiting() >= 1, what="the worker's claim handed to the writer")
    worker.cancel()
    go_on.set()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    await stall
    assert await _statuses(client, [task]) == ["pending"]
    assert webhook_sink.received == []

    await _worker(client).run_until_idle()
    assert await _statuses(client, [task]) == ["delivered"]
    assert len(webhook_sink.accepted) == 1


async def test_killed_process_loses_no_notice(
    tmp_path: Path, piapi_sim: Any, slack_sink: Any
) -> None:
    served = ServedReelhook({
        "REELHOOK_DATABASE": str(tmp_path / "kill.db"),
        "REELHOOK_SECRET_KEY": new_fernet_key(),
        "PIAPI_BASE_URL": piapi_sim.base_url,
        "PIAPI_API_KEY": piapi_sim.api_key,
        "REELHOOK_SLACK_WEBHOOK_URL": slack_sink.url,
        "REELHOOK_DELIVERY_TIMEOUT": "1",
        "REELHOOK_DISPATCH_INTERVAL": "0.05",
    })
    slack_sink.script = [Answer(200, delay=60.0)]
    await served.start()
    async with served.client() as http:
        task = (await http.post("/v1/tasks", json=skyreels())).json()
    await slack_sink.wait_until(lambda: len(slack_sink.received) == 1, timeout=15)
    await served.signal(signal.SIGKILL)
    assert _delivery_status(served, task["id"]) == "sending"

    await served.start()
    try:
        await slack_sink.wait_for(1, timeout=20)
        # The attempt is recorded a moment after the sink has the message: wait for the record.
        await until(lambda: _delivery_status(served, task["id"]) == "delivered", timeout=10,
                    what="the resent notice recorded as delivered")
        async with served.client() as http:
            answer = (await http.get(f"/v1/tasks/{task['id']}/deliveries")).json()
    finally:
        await served.signal(signal.SIGTERM)
    [delivery] = answer["deliveries"]
    assert delivery["status"] == "delivered"
    assert _named(slack_sink.texts()) == {task["id"]}
    assert len(slack_sink.received) == 2  # the one in flight at the crash went twice


async def test_burst_to_one_slack_url_arrives_as_digests(
    start_app: Any, slack_sink: Any, piapi_sim: Any
) -> None:
    client = await start_app(run_worker=False, slack_webhook_url=slack_sink.url,
                             slack_min_interval=1.0, dispatch_interval=0.05)
    ids: list[str] = []
    for start in range(0, 200, 25):
        answers = await asyncio.gather(*(
            client.post("/v1/tasks", json=skyreels(prompt=f"burst {n}"))
            for n in range(start, start + 25)
        ))
        ids += [(await answer.json())["id"] for answer in answers]
    for task_id in ids:
        await wait_for_status(client, task_id, timeout=30)

    await _worker(client).run_until_idle(timeout=60)
    messages = slack_sink.accepted
    assert len(messages) == 6  # 200 in digests of at most 35 (Slack's limits: test_slack_limits)
    assert _named(slack_sink.texts()) == set(ids)
    counts = [int(m.body["text"].split(" video tasks: ")[0]) for m in messages]
    assert sorted(counts) == [25] + [35] * 5
    assert all(len(m.body["blocks"]) <= 50 for m in messages)


async def _statuses(client: Any, tasks: list[dict[str, Any]]) -> list[str]:
    statuses = []
    for task in tasks:
        answer = await (await client.get(f"/v1/tasks/{task['id']}/deliveries")).json()
        statuses += [d["status"] for d in answer["deliveries"]]
    return statuses


def _delivery_status(served: ServedReelhook, task_id: str) -> str:
    with contextlib.closing(sqlite3.connect(served.env["REELHOOK_DATABASE"])) as conn:
        row = conn.execute("SELECT status FROM deliveries WHERE task_id = ?", (task_id,)).fetchone()
    return str(row[0])


# A graceful stop or a failed record never sends a notice twice.

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
    first = asyncio.create_task(_worker(client, timeout=5.0).run())
    await webhook_sink.wait_until(lambda: len(webhook_sink.received) == 1)
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    [delivery] = await _deliveries(client, task["id"])
    assert delivery["status"] == "delivered"

    await _worker(client, timeout=5.0).run_until_idle()
    assert len(webhook_sink.received) == 1


async def test_failed_record_is_retried_not_resent(
    start_app: Any, webhook_sink: Any, db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reelhook.dispatcher")
    client = await start_app(run_worker=False, **FAST_RETRIES)
    task = await _done_task(client, webhook_sink)
    webhook_sink.script = [Answer(200, delay=0.3)]
    store = await SqliteStore.open(db_path, busy_timeout=0.05)
    lock = sqlite3.connect(db_path, isolation_level=None)
    try:
        running = asyncio.create_task(_worker(client, store.outbox, timeout=5.0).run_until_idle())
        await webhook_sink.wait_until(lambda: len(webhook_sink.received) == 1)
        lock.execute("BEGIN IMMEDIATE")  # the answer comes while nobody else can write
        await until(lambda: _failed_records(caplog) >= 2, what="two failed records")
        lock.execute("COMMIT")
        await running
    finally:
        lock.close()
        await store.close()
    [delivery] = await _deliveries(client, task["id"])
    assert delivery["status"] == "delivered"
    assert len(webhook_sink.received) == 1


def _failed_records(caplog: pytest.LogCaptureFixture) -> int:
    return sum("recording deliveries" in record.getMessage() for record in caplog.records)


async def test_worker_outlives_a_locked_database(
    start_app: Any, webhook_sink: Any, db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reelhook.dispatcher")
    client = await start_app(run_worker=False, **FAST_RETRIES)
    task = await _done_task(client, webhook_sink)
    store = await SqliteStore.open(db_path, busy_timeout=0.05)
    lock = sqlite3.connect(db_path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the claim cannot be written while this is held
    running = asyncio.create_task(_worker(client, store.outbox, poll_interval=0.1).run())
    try:
        await until(lambda: _store_waits(caplog) >= 2, what="the worker waiting for the store")
        assert not running.done()
        lock.execute("COMMIT")
        await webhook_sink.wait_until(lambda: len(webhook_sink.received) == 1)
        await wait_delivered(client, task["id"])
    finally:
        lock.close()  # rolls back a lock still held, so the worker's hand-back cannot hang
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await store.close()
    assert len(webhook_sink.received) == 1


def _store_waits(caplog: pytest.LogCaptureFixture) -> int:
    return sum("waits for the store" in record.getMessage() for record in caplog.records)
