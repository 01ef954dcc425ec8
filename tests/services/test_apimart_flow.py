"""APIMart tasks, followed by polling only, through the real app and the APIMart simulator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import apimart, until, wait_for_status


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database

FAST_POLLS = {"poll_initial": 0.05, "poll_max_interval": 0.2}


@pytest.mark.parametrize("model", ["skyreels-v4-fast", "skyreels-v4-std"])
async def test_each_model_succeeds_through_polling(
    start_app: Any, apimart_sim: Any, model: str
) -> None:
    client = await start_app(**FAST_POLLS)
    response = await client.post("/v1/tasks", json=apimart(model=model))
    assert response.status == 202
    task = await response.json()
    assert task["provider_task_id"].startswith("task_01SIM") and task["cost_usd"] is None
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded" and done["progress"] == 100
    assert done["video_url"] == f"{apimart_sim.base_url}/videos/{task['provider_task_id']}.mp4"
    assert apimart_sim.polls[task["provider_task_id"]] >= 1
    sent = apimart_sim.received[0]
    assert sent["headers"]["Authorization"] == f"Bearer {apimart_sim.api_key}"
    assert "callback_url" not in sent["body"]
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    assert events[0]["source"] == "submit"
    assert {e["source"] for e in events[1:]} == {"poll"}


async def test_string_url_and_i2v_fields(start_app: Any, apimart_sim: Any) -> None:
    apimart_sim.script.url_as_list = False
    client = await start_app(**FAST_POLLS)
    mids = [{"tag": "@image1", "image_url": "https://x.example/k.png", "time_stamp": 3}]
    body = apimart(
        prompt="The king summons @image1",
        image="https://x.example/a.png",
        end_image="https://x.example/b.png",
        duration=8,
        extra={"mid_frame_images": mids},
    )
    task = await (await client.post("/v1/tasks", json=body)).json()
    done = await wait_for_status(client, task["id"])
    assert done["video_url"].endswith(".mp4")
    sent = apimart_sim.received[0]["body"]
    assert sent["first_frame_image"] == "https://x.example/a.png"
    assert sent["end_frame_image"] == "https://x.example/b.png"
    assert sent["mid_frame_images"] == mids and sent["duration"] == 8


async def test_omni_request_is_sent(start_app: Any, apimart_sim: Any) -> None:
    client = await start_app(**FAST_POLLS)
    refs = [
        {
            "tag": "@Actor-1",
            "type": "image",
            "image_urls": ["https://x.example/a.jpg"],
            "audio_url": "https://x.example/v.mp3",
        }
    ]
    body = apimart(prompt="@Actor-1 speaks calmly", extra={"ref_images": refs})
    task = await (await client.post("/v1/tasks", json=body)).json()
    assert (await wait_for_status(client, task["id"]))["status"] == "succeeded"
    assert apimart_sim.received[0]["body"]["ref_images"] == refs


async def test_failed_task(start_app: Any) -> None:
    client = await start_app(**FAST_POLLS)
    task = await (await client.post("/v1/tasks", json=apimart(prompt="[fail] x"))).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "failed"
    assert "could not be generated" in done["error"]


async def test_task_that_never_finishes_fails_with_timeout(
    start_app: Any, apimart_sim: Any
) -> None:
    apimart_sim.script.never_finish = True
    client = await start_app(task_deadline=1.0, **FAST_POLLS)
    task = await (await client.post("/v1/tasks", json=apimart())).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "failed"
    assert done["error"].startswith("timeout")
    assert apimart_sim.polls[task["provider_task_id"]] >= 2


async def test_provider_422_fails_the_task_with_its_message(
    start_app: Any, apimart_sim: Any
) -> None:
    client = await start_app(**FAST_POLLS)
    apimart_sim.api_key = "rotated"
    task = await (await client.post("/v1/tasks", json=apimart())).json()
    assert task["status"] == "failed" and "invalid API key" in task["error"]


async def test_polling_survives_a_restart(start_app: Any, apimart_sim: Any) -> None:
    apimart_sim.script.never_finish = True
    first = await start_app(**FAST_POLLS)
    task = await (await first.post("/v1/tasks", json=apimart())).json()
    await wait_for_status(first, task["id"], {"running"})
    await first.close()
    polled = apimart_sim.polls[task["provider_task_id"]]
    apimart_sim.script.never_finish = False
    second = await start_app(**FAST_POLLS)
    done = await wait_for_status(second, task["id"])
    assert done["status"] == "succeeded"
    assert apimart_sim.polls[task["provider_task_id"]] > polled


async def test_a_poll_under_way_when_reelhook_stops_is_asked_again_at_the_next_start(
    start_app: Any, apimart_sim: Any
) -> None:
    """A stopping poller hands its unfinished polls back: the next start asks at once, not
    when the claim's lease (twice the provider timeout and more) would have run out."""
    apimart_sim.script.never_finish = True
    first = await start_app(**FAST_POLLS)
    task = await (await first.post("/v1/tasks", json=apimart())).json()
    await wait_for_status(first, task["id"], {"running"})
    apimart_sim.script.poll_delay = 60.0  # the next Get Task is still being answered at the stop
    await until(lambda: apimart_sim.polls_waiting == 1, what="a poll under way")
    await first.close()
    apimart_sim.script.poll_delay = 0.0
    apimart_sim.script.never_finish = False
    second = await start_app(**FAST_POLLS)  # provider_timeout 5 s: a lease of 15 s
    done = await wait_for_status(second, task["id"], timeout=5.0)
    assert done["status"] == "succeeded"
