"""Wave's 5-queued-task limit: reelhook holds the sixth task itself, and a 429 is retried."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.helpers import until, wait_for_status, wait_sent, wave


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


async def test_sixth_task_waits_until_one_finishes(start_app: Any, wave_sim: Any) -> None:
    client = await start_app(poll_initial=0.05)
    wave_sim.script.manual = True
    answers = await asyncio.gather(
        *(client.post("/v1/tasks", json=wave(prompt=f"shot {i}")) for i in range(6))
    )
    tasks = [await answer.json() for answer in answers]
    assert all(answer.status == 202 for answer in answers)
    waiting = [task for task in tasks if task["provider_task_id"] is None]
    assert len(waiting) == 1 and waiting[0]["status"] == "queued"
    assert len(wave_sim.received) == 5 and wave_sim.refused == []

    # Wave refuses (429) a sixth task while five are unfinished: an empty `refused` at the end
    # shows the sixth was not sent before a slot freed.
    first = next(task for task in tasks if task["provider_task_id"])
    wave_sim.finish(first["provider_task_id"])
    assert (await wait_for_status(client, first["id"]))["status"] == "succeeded"
    await until(lambda: len(wave_sim.received) == 6)
    sixth = await wait_sent(client, waiting[0]["id"])
    assert sixth["provider_task_id"] in wave_sim.unfinished()
    assert wave_sim.refused == []
    for task_id in wave_sim.unfinished():
        wave_sim.finish(task_id)
    done = await wait_for_status(client, waiting[0]["id"])
    assert done["status"] == "succeeded"


async def test_held_task_can_be_cancelled_locally(start_app: Any, wave_sim: Any) -> None:
    client = await start_app(max_in_flight={"wave": 1})
    wave_sim.script.manual = True
    first = await (await client.post("/v1/tasks", json=wave())).json()
    second = await (await client.post("/v1/tasks", json=wave(prompt="second"))).json()
    assert second["provider_task_id"] is None
    answer = await client.post(f"/v1/tasks/{second['id']}/cancel")
    assert (await answer.json())["status"] == "cancelled"
    third = await (await client.post("/v1/tasks", json=wave(prompt="third"))).json()
    assert third["provider_task_id"] is None  # held behind the first
    wave_sim.finish(first["provider_task_id"])
    await wait_for_status(client, first["id"])
    # The freed slot wakes the queue, which goes through held tasks oldest first: the third is
    # sent by the pass that would have sent the cancelled second.
    await wait_sent(client, third["id"])
    assert [item["body"]["prompt"] for item in wave_sim.received] == ["a shiba walks on the moon",
                                                                     "third"]


async def test_busy_answer_is_retried_not_failed(start_app: Any, wave_sim: Any) -> None:
    client = await start_app(max_in_flight={"wave": 0}, poll_initial=0.05)
    wave_sim.script.manual = True
    wave_sim.script.max_queued = 1
    first = await (await client.post("/v1/tasks", json=wave())).json()
    second = await (await client.post("/v1/tasks", json=wave(prompt="second"))).json()
    assert wave_sim.refused[:1] == [429]
    assert second["status"] == "queued" and second["provider_task_id"] is None
    await until(lambda: len(wave_sim.refused) >= 2, what="a second busy answer")
    assert (await (await client.get(f"/v1/tasks/{second['id']}")).json())["status"] == "queued"
    wave_sim.finish(first["provider_task_id"])
    await until(lambda: len(wave_sim.received) > len(wave_sim.refused) + 1)
    sent = await wait_sent(client, second["id"])
    assert sent["status"] == "queued" and sent["provider_task_id"] == wave_sim.unfinished()[0]
    wave_sim.finish(sent["provider_task_id"])
    assert (await wait_for_status(client, second["id"]))["status"] == "succeeded"
