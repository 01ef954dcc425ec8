"""Polling as the safety net: lost callbacks, backoff, deduplication against callbacks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from receiver.poller import poll_interval
from tests.conftest import skyreels, wait_for_status, wave


async def test_piapi_task_with_dropped_callbacks_succeeds_through_polling(
    start_app: Any, piapi_sim: Any
) -> None:
    piapi_sim.script.drop_callbacks = True
    client = await start_app(poll_initial=0.05, callback_grace=0.2, poll_max_interval=0.2)
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    assert done["video_url"] == f"{piapi_sim.base_url}/videos/{task['provider_task_id']}.mp4"
    assert all(sent.answer is None for sent in piapi_sim.sent)
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    assert events[-1]["source"] == "poll" and events[-1]["status"] == "succeeded"


async def test_wave_task_with_dropped_callbacks_succeeds_through_polling(
    start_app: Any, wave_sim: Any
) -> None:
    wave_sim.script.drop_callbacks = True
    client = await start_app(poll_initial=0.05, callback_grace=0.2, poll_max_interval=0.2)
    task = await (await client.post("/v1/tasks", json=wave())).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded" and done["video_url"].endswith(".mp4")


async def test_polls_that_say_nothing_new_are_not_recorded(start_app: Any, piapi_sim: Any) -> None:
    client = await start_app(poll_initial=0.05, callback_grace=0.05, poll_max_interval=0.05)
    piapi_sim.script.step_delay = 0.3
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    await wait_for_status(client, task["id"])
    await piapi_sim.wait_idle()
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    for index, event in enumerate(events):
        if event["source"] == "poll":
            earlier = {e["status"] for e in events[:index]}
            assert event["status"] not in earlier, events
    polled = [e["status"] for e in events if e["source"] == "poll"]
    assert polled.count("succeeded") <= 1


def test_backoff_starts_soon_and_stops_at_the_ceiling(settings: Any) -> None:
    chosen = replace(settings, poll_initial=5.0, poll_max_interval=60.0)
    gaps = [poll_interval(attempt, chosen) for attempt in range(8)]
    assert gaps[:4] == [5.0, 10.0, 20.0, 40.0]
    assert gaps[4:] == [60.0] * 4
