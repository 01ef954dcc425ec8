"""PiAPI tasks from submit to their end, through the real app and the simulator on loopback."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import framepack, skyreels, wait_for_status


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


async def test_skyreels_task_succeeds_with_video_url(client: Any, piapi_sim: Any) -> None:
    response = await client.post("/v1/tasks", json=skyreels(aspect_ratio="9:16"))
    assert response.status == 202
    task = await response.json()
    assert task["status"] in {"queued", "running"}
    assert task["provider_task_id"].startswith("sim-piapi-")
    assert task["cost_usd"] == 0.15

    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    assert done["progress"] == 100
    assert done["video_url"] == f"{piapi_sim.base_url}/videos/{task['provider_task_id']}.mp4"

    sent = piapi_sim.received[0]
    assert sent["headers"]["x-api-key"] == piapi_sim.api_key
    body = sent["body"]
    assert body["model"] == "Qubico/skyreels" and body["task_type"] == "img2video"
    assert body["input"] == {
        "prompt": "FPS-24, a woman smiles",
        "image": skyreels()["image"],
        "aspect_ratio": "9:16",
        "guidance_scale": 3.5,
    }
    hook = body["config"]["webhook_config"]
    assert hook["endpoint"].endswith(f"/callbacks/piapi/{task['id']}")
    assert len(hook["secret"]) >= 43  # 32 random bytes, URL-safe


async def test_framepack_task_sends_start_image_and_succeeds(client: Any, piapi_sim: Any) -> None:
    response = await client.post(
        "/v1/tasks", json=framepack(duration=20, end_image="https://images.example.com/end.png")
    )
    assert response.status == 202
    task = await response.json()
    assert task["cost_usd"] == 0.6
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    assert done["video_url"].endswith(".mp4")
    sent_input = piapi_sim.received[0]["body"]["input"]
    assert sent_input["start_image"] == framepack()["image"]
    assert sent_input["end_image"] == "https://images.example.com/end.png"
    assert sent_input["duration"] == 20
    assert "image" not in sent_input


async def test_failed_task_carries_provider_error(client: Any) -> None:
    response = await client.post("/v1/tasks", json=skyreels(prompt="[fail] a dancing cat"))
    task = await response.json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "failed"
    assert "generation failed" in done["error"]
    assert done["video_url"] is None


async def test_events_record_every_callback_in_order(client: Any, piapi_sim: Any) -> None:
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    await wait_for_status(client, task["id"])
    await piapi_sim.wait_idle()
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    callbacks = [e["provider_status"] for e in events if e["source"] == "callback"]
    assert callbacks == ["pending", "processing", "completed"]
    assert any(e["source"] == "submit" for e in events)


async def test_secret_never_appears_in_answers(client: Any, piapi_sim: Any) -> None:
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    await wait_for_status(client, task["id"])
    await piapi_sim.wait_idle()
    secret = piapi_sim.received[0]["body"]["config"]["webhook_config"]["secret"]
    for path in (f"/v1/tasks/{task['id']}", f"/v1/tasks/{task['id']}/events", "/v1/tasks"):
        text = await (await client.get(path)).text()
        assert secret not in text, path
