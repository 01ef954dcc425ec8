"""1min.ai: upload, the slow synchronous call in the background, and what a restart does."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import PNG_DATA_URI, onemin, wait_for_status


async def test_data_uri_is_uploaded_and_task_succeeds(client: Any, onemin_sim: Any) -> None:
    onemin_sim.script.delay = 0.3
    response = await client.post("/v1/tasks", json=onemin(aspect_ratio="9:16"))
    assert response.status == 202
    task = await response.json()
    assert task["status"] == "queued" and task["cost_usd"] is None
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    assert done["provider_task_id"].startswith("record-")
    assert done["video_url"] == f"{onemin_sim.base_url}/videos/{done['provider_task_id']}.mp4"
    [path] = onemin_sim.assets
    sent = onemin_sim.received[0]
    assert sent["headers"]["API-KEY"] == onemin_sim.api_key
    assert sent["body"]["type"] == "IMAGE_TO_VIDEO"
    assert sent["body"]["conversationId"] == "IMAGE_TO_VIDEO"
    assert sent["body"]["promptObject"] == {
        "imageUrl": path,
        "prompt": "FPS-24, a woman smiles",
        "aspect_ratio": "9:16",
        "guidance_scale": 3.5,
    }


async def test_image_url_is_fetched_then_uploaded(client: Any, onemin_sim: Any) -> None:
    body = onemin(image=f"{onemin_sim.base_url}/files/girl.png", negative_prompt="blurry")
    task = await (await client.post("/v1/tasks", json=body)).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    [data] = onemin_sim.assets.values()
    assert data.startswith(b"\x89PNG")
    assert onemin_sim.received[0]["body"]["promptObject"]["negative_prompt"] == "blurry"


async def test_failed_generation(client: Any) -> None:
    task = await (await client.post("/v1/tasks", json=onemin(prompt="[fail] x"))).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "failed"
    assert "video generation failed" in done["error"]


async def test_call_longer_than_the_timeout_fails(start_app: Any, onemin_sim: Any) -> None:
    onemin_sim.script.hang = True
    client = await start_app(onemin_timeout=0.3)
    task = await (await client.post("/v1/tasks", json=onemin())).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "failed" and "timed out" in done["error"]


async def test_restart_during_the_call_fails_the_task_clearly(
    start_app: Any, onemin_sim: Any
) -> None:
    onemin_sim.script.hang = True
    first = await start_app()
    task = await (await first.post("/v1/tasks", json=onemin(image=PNG_DATA_URI))).json()
    for _ in range(500):
        if onemin_sim.in_flight:
            break
        await asyncio.sleep(0.01)
    assert onemin_sim.in_flight == 1
    await first.close()
    second = await start_app()
    done = await (await second.get(f"/v1/tasks/{task['id']}")).json()
    assert done["status"] == "failed"
    assert "reelhook stopped while the call to onemin was in flight" in done["error"]
