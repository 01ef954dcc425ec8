"""Every kind of state change starts its notice at once, not at the dispatcher's next look.

The dispatcher looks for due deliveries every 60 s in these tests (REELHOOK_DISPATCH_INTERVAL);
a notice that arrives well before that was started by the state change's own wake-up.
"""

from __future__ import annotations

import json
from typing import Any

from receiver.services.secrets import SecretBox
from store import NewDestination, NewTask, SqliteStore
from tests.helpers import (
    FAST_RETRIES,
    apimart,
    onemin,
    skyreels,
    wait_delivered,
    wait_for_status,
    wave,
)

SLOW_DISPATCH = {**FAST_RETRIES, "dispatch_interval": 60.0}
ALL_ENDS = frozenset({"succeeded", "failed", "cancelled"})
WAIT = 20.0  # far below the 60 s look: only a wake-up delivers in time


def notify(sink: Any) -> list[dict[str, str]]:
    return [{"channel": "webhook", "url": sink.url, "secret": sink.secret}]


async def submit(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/tasks", json=body)
    assert response.status == 202, await response.text()
    task: dict[str, Any] = await response.json()
    return task


async def assert_notice_sent(client: Any, sink: Any, task_id: str, state: str) -> None:
    deliveries = await wait_delivered(client, task_id, 1, timeout=WAIT)
    assert [(d["state"], d["status"]) for d in deliveries] == [(state, "delivered")]
    accepted = sink.accepted
    assert [item.verified for item in accepted] == [True]
    assert accepted[0].body["data"]["id"] == task_id


async def test_callback_notice_starts_at_once(
    start_app: Any, piapi_sim: Any, webhook_sink: Any
) -> None:
    client = await start_app(**SLOW_DISPATCH)
    task = await submit(client, skyreels(notify=notify(webhook_sink)))
    await assert_notice_sent(client, webhook_sink, task["id"], "succeeded")


async def test_poll_notice_starts_at_once(
    start_app: Any, apimart_sim: Any, webhook_sink: Any
) -> None:
    client = await start_app(**SLOW_DISPATCH, poll_initial=0.05, poll_max_interval=0.2)
    task = await submit(client, apimart(notify=notify(webhook_sink)))
    await assert_notice_sent(client, webhook_sink, task["id"], "succeeded")


async def test_wave_confirmation_notice_starts_at_once(
    start_app: Any, wave_sim: Any, webhook_sink: Any
) -> None:
    client = await start_app(**SLOW_DISPATCH)
    task = await submit(client, wave(notify=notify(webhook_sink)))
    await assert_notice_sent(client, webhook_sink, task["id"], "succeeded")
    events = await (await client.get(f"/v1/tasks/{task['id']}/events")).json()
    assert "confirm" in [event["source"] for event in events["events"]]


async def test_submit_answer_notice_starts_at_once(
    start_app: Any, onemin_sim: Any, webhook_sink: Any
) -> None:
    # 1min.ai answers the submit with the finished video: the submit's answer is the change.
    client = await start_app(**SLOW_DISPATCH)
    task = await submit(client, onemin(notify=notify(webhook_sink)))
    await assert_notice_sent(client, webhook_sink, task["id"], "succeeded")


async def test_failed_submit_notice_starts_at_once(
    start_app: Any, piapi_sim: Any, webhook_sink: Any
) -> None:
    piapi_sim.script.submit_http_status = 500
    client = await start_app(**SLOW_DISPATCH)
    task = await submit(client, skyreels(notify=notify(webhook_sink)))
    assert task["status"] == "failed"
    await assert_notice_sent(client, webhook_sink, task["id"], "failed")


async def test_cancel_notice_starts_at_once(
    start_app: Any, wave_sim: Any, webhook_sink: Any
) -> None:
    wave_sim.script.step_delay = 60.0  # the task stays queued at Wave, where it can be cancelled
    client = await start_app(**SLOW_DISPATCH, notify_on=ALL_ENDS)
    task = await submit(client, wave(notify=notify(webhook_sink)))
    answer = await client.post(f"/v1/tasks/{task['id']}/cancel")
    assert (await answer.json())["status"] == "cancelled"
    await assert_notice_sent(client, webhook_sink, task["id"], "cancelled")


async def test_cancel_of_a_held_task_notice_starts_at_once(
    start_app: Any, wave_sim: Any, webhook_sink: Any
) -> None:
    wave_sim.script.manual = True
    client = await start_app(**SLOW_DISPATCH, notify_on=ALL_ENDS, max_in_flight={"wave": 1})
    await submit(client, wave())
    held = await submit(client, wave(prompt="second", notify=notify(webhook_sink)))
    assert held["provider_task_id"] is None
    answer = await client.post(f"/v1/tasks/{held['id']}/cancel")
    assert (await answer.json())["status"] == "cancelled"
    await assert_notice_sent(client, webhook_sink, held["id"], "cancelled")


async def test_time_out_notice_starts_at_once(
    start_app: Any, apimart_sim: Any, webhook_sink: Any
) -> None:
    apimart_sim.script.never_finish = True
    client = await start_app(
        **SLOW_DISPATCH, task_deadline=1.0, poll_initial=0.05, poll_max_interval=0.2
    )
    task = await submit(client, apimart(notify=notify(webhook_sink)))
    done = await wait_for_status(client, task["id"])
    assert done["error"].startswith("timeout")
    await assert_notice_sent(client, webhook_sink, task["id"], "failed")


async def test_interrupted_send_notice_starts_at_once(
    start_app: Any, settings: Any, webhook_sink: Any
) -> None:
    # A task whose send was under way when its process died (its claim's lease has run out),
    # with a webhook destination.
    secrets = SecretBox(settings.secret_key)
    target = secrets.encrypt(json.dumps({"url": webhook_sink.url, "secret": webhook_sink.secret}))
    store = await SqliteStore.open(settings.database)
    try:
        task_id = "tsk_" + "2" * 28
        destination = NewDestination("webhook", target, "hook", "route-1")
        await store.create_task(NewTask(task_id, "piapi", "Qubico/skyreels", {},
                                        destinations=(destination,)))
        assert await store.submits.claim_slot(task_id, "piapi", 0, owner="gone-process", lease=0.0)
    finally:
        await store.close()
    client = await start_app(**SLOW_DISPATCH)
    done = await wait_for_status(client, task_id)
    assert "stopped while the call to piapi was in flight" in done["error"]
    await assert_notice_sent(client, webhook_sink, task_id, "failed")
