"""Slack notices stay inside Slack's limits, checked by a fake Slack that enforces them (40,000
characters of text, 50 blocks, 3,000 per section, 150 per header, about 12,000 of block text in
all): a burst of a hundred notices with long prompts, errors and links becomes several digests,
each accepted, each task named once; and a 400 to a message reelhook built is reported as a bug
and followed by a plain-text message, never a dead burst."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path

import pytest

from dispatcher.config import DispatchConfig
from dispatcher.worker import Worker
from receiver.sandbox.sinks import Answer, SlackSink
from receiver.services.secrets import SecretBox, new_fernet_key
from store import EventIn, NewDestination, NewTask, Observation, SqliteStore

BURST = 100
LONG = "word " * 2000  # 10,000 characters


async def queue_burst(store: SqliteStore, box: SecretBox, url: str, count: int) -> list[str]:
    """`count` finished tasks with long prompts, errors and video links, one Slack webhook."""
    target = box.encrypt(json.dumps({"url": url}))
    ids = []
    for number in range(count):
        task_id = f"tsk_{number:028x}"
        slack = NewDestination("slack", target, "slack", "route-slack")
        await store.create_task(NewTask(task_id, "wave", "skyreels-v4-fast", {"prompt": LONG},
                                        destinations=(slack,)))
        if number % 2:
            seen = Observation("failed", error=LONG)
        else:
            seen = Observation("succeeded", video_url="https://cdn.example/v.mp4?" + "x" * 3000)
        await store.record_event(task_id, EventIn("done", "callback", seen))
        ids.append(task_id)
    return ids


async def send_all(store: SqliteStore, box: SecretBox) -> None:
    config = DispatchConfig(decrypt=box.decrypt, slack_interval=0.01, poll_interval=0.05,
                            allow_private=True)
    await Worker(store.outbox, config).run_until_idle(timeout=60)


async def test_a_burst_becomes_digests_slack_takes_each_naming_every_task_once(
    tmp_path: Path, slack_sink: SlackSink
) -> None:
    box = SecretBox(new_fernet_key().encode())
    store = await SqliteStore.open(str(tmp_path / "r.db"))
    try:
        ids = await queue_burst(store, box, slack_sink.url, BURST)
        await send_all(store, box)
        deliveries = await store.outbox.deliveries(limit=BURST)
    finally:
        await store.close()
    assert [item.status for item in slack_sink.received] == [200] * len(slack_sink.received)
    assert len(slack_sink.received) >= 3  # a hundred do not fit one message
    named = Counter(found for text in slack_sink.texts()
                    for found in re.findall(r"tsk_[0-9a-f]{28}", text))
    assert named == Counter({task_id: 1 for task_id in ids})
    assert {d["status"] for d in deliveries} == {"delivered"}


async def test_a_refused_message_is_reported_and_sent_as_plain_text(
    tmp_path: Path, slack_sink: SlackSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="reelhook.dispatcher")
    slack_sink.script = [Answer(status=400, body="invalid_blocks")]
    box = SecretBox(new_fernet_key().encode())
    store = await SqliteStore.open(str(tmp_path / "r.db"))
    try:
        ids = await queue_burst(store, box, slack_sink.url, 3)
        await send_all(store, box)
        deliveries = await store.outbox.deliveries()
    finally:
        await store.close()
    assert [item.status for item in slack_sink.received] == [400, 200]
    plain = slack_sink.received[1].body
    assert "blocks" not in plain and all(task_id in plain["text"] for task_id in ids)
    assert {d["status"] for d in deliveries} == {"delivered"}
    assert any("this is a bug in reelhook" in r.getMessage() and "invalid_blocks" in
               r.getMessage() for r in caplog.records)
