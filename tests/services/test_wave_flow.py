"""Wave tasks from submit to their end, through the real app and the Wave simulator."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.helpers import until, wait_for_status, wave


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


@pytest.mark.parametrize("model", ["skyreels-v4-fast", "skyreels-v4-std"])
async def test_each_model_succeeds_with_video_url(client: Any, wave_sim: Any, model: str) -> None:
    response = await client.post(
        "/v1/tasks", json=wave(model=model), headers={"Idempotency-Key": f"key-{model}"}
    )
    assert response.status == 202
    task = await response.json()
    assert task["provider_task_id"].startswith("task-wave")
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    assert done["video_url"] == f"{wave_sim.base_url}/videos/{task['provider_task_id']}.mp4"
    # Wave's link is "valid for 24 hours" (result.expires_at): the task says until when, and
    # keeps its own copy.
    assert done["video"]["expires_at"] > done["updated_at"]
    assert done["video"]["status"] == "kept"
    sent = wave_sim.received[0]
    assert sent["headers"]["Authorization"] == f"Bearer {wave_sim.api_key}"
    assert sent["headers"]["Idempotency-Key"] == f"key-{model}"


async def test_fields_are_mapped_and_callback_url_carries_a_token(
    client: Any, wave_sim: Any
) -> None:
    extra = {
        "action": "first_last_frame",
        "prompt_optimizer": False,
        "mid_frame_images": [
            {"tag": "kf", "image_url": "https://x.example/k.png", "time_stamp": 2.5}
        ],
    }
    body = wave(
        image="https://x.example/a.png",
        end_image="https://x.example/b.png",
        aspect_ratio="9:16",
        extra=extra,
    )
    task = await (await client.post("/v1/tasks", json=body)).json()
    await wait_for_status(client, task["id"])
    sent = wave_sim.received[0]["body"]
    assert sent["first_frame_image"] == "https://x.example/a.png"
    assert sent["last_frame_image"] == "https://x.example/b.png"
    assert sent["action"] == "first_last_frame" and sent["prompt_optimizer"] is False
    assert sent["mid_frame_images"] == extra["mid_frame_images"]
    assert sent["duration"] == 5 and sent["aspect_ratio"] == "9:16"
    assert sent["callback_events"] == ["succeeded", "failed"]
    prefix = f"{client.server.scheme}://127.0.0.1:{client.server.port}/callbacks/wave/{task['id']}/"
    assert sent["callback_url"].startswith(prefix)
    assert len(sent["callback_url"][len(prefix) :]) >= 32
    assert "Idempotency-Key" in wave_sim.received[0]["headers"]


async def test_notify_on_adds_callback_events(start_app: Any, wave_sim: Any) -> None:
    client = await start_app(notify_on=frozenset({"running", "succeeded", "failed"}))
    task = await (await client.post("/v1/tasks", json=wave())).json()
    await wait_for_status(client, task["id"])
    assert wave_sim.received[0]["body"]["callback_events"] == ["running", "succeeded", "failed"]


async def test_list_urls_seconds_and_text_progress_are_read(client: Any, wave_sim: Any) -> None:
    wave_sim.script.url_as_list = True
    wave_sim.script.times_in_seconds = True
    wave_sim.script.progress_as_text = True
    task = await (await client.post("/v1/tasks", json=wave())).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded" and done["progress"] == 100
    assert done["video_url"].endswith(f"{task['provider_task_id']}.mp4")


async def test_failed_task_carries_wave_error(client: Any) -> None:
    task = await (await client.post("/v1/tasks", json=wave(prompt="[fail] a cat"))).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "failed"
    assert "content moderation failed" in done["error"]
    assert done["video_url"] is None


async def test_callback_with_wrong_token_is_refused(client: Any, wave_sim: Any) -> None:
    wave_sim.script.manual = True
    task = await (await client.post("/v1/tasks", json=wave())).json()
    url = wave_sim.received[0]["body"]["callback_url"]
    forged = url.rsplit("/", 1)[0] + "/not-the-token-at-all-0123456789abcdef"
    body = {
        "event": "succeeded",
        "data": {"task_id": task["provider_task_id"], "status": "completed"},
    }
    answer = await client.post(forged.split(str(client.server.port), 1)[1], json=body)
    assert answer.status == 401
    assert (await client.get(f"/v1/tasks/{task['id']}")).status == 200
    wave_sim.finish(task["provider_task_id"])


async def test_forged_terminal_callback_is_confirmed_with_the_api(
    client: Any, wave_sim: Any
) -> None:
    wave_sim.script.manual = True
    task = await (await client.post("/v1/tasks", json=wave())).json()
    path = wave_sim.received[0]["body"]["callback_url"].split(str(client.server.port), 1)[1]
    await until(lambda: wave_sim.tasks[task["provider_task_id"]]["status"] == "processing")
    body = {
        "event": "succeeded",
        "data": {
            "task_id": task["provider_task_id"],
            "status": "completed",
            "progress": 100,
            "result": {"videos": [{"url": "https://evil.example/fake.mp4"}]},
        },
    }
    answer = await client.post(path, json=body)
    assert answer.status == 200
    now = await (await client.get(f"/v1/tasks/{task['id']}")).json()
    assert now["status"] == "running" and now["video_url"] is None
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    hint = [e for e in events if e["source"] == "callback"][-1]
    assert hint["provider_status"] == "completed" and hint["status"] is None
    assert any(e["source"] == "confirm" and e["provider_status"] == "processing" for e in events)
    wave_sim.finish(task["provider_task_id"])
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded" and "evil" not in done["video_url"]


async def test_cancel_while_queued(client: Any, wave_sim: Any) -> None:
    wave_sim.script.step_delay = 5.0
    task = await (await client.post("/v1/tasks", json=wave())).json()
    answer = await client.post(f"/v1/tasks/{task['id']}/cancel")
    assert answer.status == 200
    assert (await answer.json())["status"] == "cancelled"
    assert wave_sim.tasks[task["provider_task_id"]]["status"] == "cancelled"


async def test_cancel_while_processing_is_a_conflict(client: Any, wave_sim: Any) -> None:
    wave_sim.script.manual = True
    task = await (await client.post("/v1/tasks", json=wave())).json()
    await until(lambda: wave_sim.tasks[task["provider_task_id"]]["status"] == "processing")
    answer = await client.post(f"/v1/tasks/{task['id']}/cancel")
    assert answer.status == 409
    assert "only be cancelled while queued" in (await answer.json())["error"]["message"]
    wave_sim.finish(task["provider_task_id"])


async def test_cost_follows_tier_resolution_and_video_reference(client: Any) -> None:
    plain = await (await client.post("/v1/tasks", json=wave(resolution="1080p"))).json()
    assert plain["cost_usd"] == pytest.approx(1.16875)
    refs = {
        "ref_videos": [{"tag": "src", "type": "extend", "video_url": "https://x.example/v.mp4"}]
    }
    std = wave(model="skyreels-v4-std", duration=4, resolution="480p", extra=refs)
    ref = await (await client.post("/v1/tasks", json=std)).json()
    assert ref["cost_usd"] == pytest.approx(0.612)
    costs = await (await client.get("/v1/costs")).json()
    wave_row = next(row for row in costs["providers"] if row["provider"] == "wave")
    assert wave_row["tasks"] == 2 and wave_row["cost_usd"] == pytest.approx(1.78075)
    assert costs["total_usd"] == pytest.approx(1.78075)


@pytest.mark.parametrize("in_seconds", [True, False])
async def test_wave_times_are_recorded_in_seconds_whatever_unit_wave_used(
    client: Any, wave_sim: Any, in_seconds: bool
) -> None:
    wave_sim.script.times_in_seconds = in_seconds
    started = time.time()
    task = await (await client.post("/v1/tasks", json=wave())).json()
    await wait_for_status(client, task["id"])
    await wave_sim.wait_idle()
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    final = [e for e in events if e["status"] == "succeeded"][-1]["payload"]["reelhook_times"]
    raw = wave_sim.tasks[task["provider_task_id"]]
    assert started - 1 <= final["created_at"] <= time.time() + 1
    assert final["completed_at"] == pytest.approx(raw["completed_at"], abs=1.0)
    assert final["expires_at"] == pytest.approx(raw["completed_at"] + 86400, abs=1.0)
