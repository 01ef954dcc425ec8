"""A state change that queues notices wakes the dispatcher at once."""

from __future__ import annotations

from typing import Any

from tests.helpers import FAST_RETRIES, skyreels, wait_delivered


async def test_notice_goes_out_long_before_the_next_dispatch_look(
    start_app: Any, webhook_sink: Any
) -> None:
    # The worker looks for due deliveries every 60 s here; only the wake-up can deliver in time.
    client = await start_app(**{**FAST_RETRIES, "dispatch_interval": 60.0})
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret}]
    task = await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json()
    deliveries = await wait_delivered(client, task["id"], 1, timeout=20.0)
    assert [d["status"] for d in deliveries] == ["delivered"]
    assert len(webhook_sink.accepted) == 1
