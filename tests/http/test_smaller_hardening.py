"""Idempotency with default values, costs of accepted tasks only, busy refusals that back off to
a deadline, and Wave sends cut off by a stop made again under their Idempotency-Key."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.services.secrets import new_fernet_key
from receiver.services.submit_queue import busy_backoff
from receiver.settings import Settings
from tests.helpers import API_TOKEN, ServedReelhook, skyreels, wait_for_status, wave


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


async def test_fields_left_out_or_set_to_their_defaults_are_the_same_request(
    client: Any, piapi_sim: Any
) -> None:
    headers = {"Idempotency-Key": "same-request-1"}
    first = await client.post("/v1/tasks", json=skyreels(), headers=headers)
    assert first.status == 202
    spelled_out = skyreels(aspect_ratio="16:9", guidance_scale=3.5, extra={}, notify=[],
                           metadata={})
    spelled_out["negative_prompt"] = None
    again = await client.post("/v1/tasks", json=spelled_out, headers=headers)
    assert again.status == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["id"] == (await first.json())["id"]
    other = await client.post("/v1/tasks", json=skyreels(aspect_ratio="9:16"), headers=headers)
    assert other.status == 409
    assert len(piapi_sim.received) == 1


async def test_v4_defaults_spelled_out_are_the_same_request(
    client: Any, apimart_sim: Any, wave_sim: Any
) -> None:
    # The seeds' defaults: APIMart 1080p, 16:9, prompt_optimizer true; Wave 720p, 16:9,
    # prompt_optimizer true (and 5 seconds for both). Wave's action is no such default: given,
    # even as generate, it locks the mode, so it makes another request.
    spelled = {
        "apimart": {"resolution": "1080p", "aspect_ratio": "16:9", "duration": 5,
                    "extra": {"prompt_optimizer": True}},
        "wave": {"resolution": "720p", "aspect_ratio": "16:9", "duration": 5,
                 "extra": {"prompt_optimizer": True}},
    }
    for provider, defaults in spelled.items():
        short = {"provider": provider, "model": "skyreels-v4-fast", "prompt": "a cat walks"}
        headers = {"Idempotency-Key": f"defaults-{provider}"}
        first = await client.post("/v1/tasks", json=short, headers=headers)
        again = await client.post("/v1/tasks", json=short | defaults, headers=headers)
        assert (first.status, again.status) == (202, 202), provider
        assert (await again.json())["id"] == (await first.json())["id"]
        changed = short | defaults | {"extra": {"prompt_optimizer": False}}
        assert (await client.post("/v1/tasks", json=changed, headers=headers)).status == 409
    locked = {"provider": "wave", "model": "skyreels-v4-fast", "prompt": "a cat walks",
              "extra": {"action": "generate"}}
    same_key = {"Idempotency-Key": "defaults-wave"}
    assert (await client.post("/v1/tasks", json=locked, headers=same_key)).status == 409
    assert len(apimart_sim.received) == 1 and len(wave_sim.received) == 1


async def test_costs_count_only_tasks_the_provider_accepted(
    client: Any, piapi_sim: Any
) -> None:
    accepted = await (await client.post("/v1/tasks", json=skyreels())).json()
    await wait_for_status(client, accepted["id"])
    piapi_sim.script.submit_http_status = 400  # refused: never accepted, costs nothing
    refused = await (await client.post("/v1/tasks", json=skyreels(prompt="refused"))).json()
    assert (await wait_for_status(client, refused["id"]))["status"] == "failed"
    costs = await (await client.get("/v1/costs")).json()
    [piapi] = [row for row in costs["providers"] if row["provider"] == "piapi"]
    assert piapi["tasks"] == 1 and piapi["cost_usd"] == 0.15 and costs["total_usd"] == 0.15
    failed = await (await client.get("/v1/costs?status=failed")).json()
    assert failed["total_usd"] == 0


def test_busy_refusals_back_off_doubling_to_the_ceiling_and_honour_retry_after() -> None:
    settings = Settings(api_tokens=(API_TOKEN,), secret_key=new_fernet_key().encode(),
                        poll_initial=2.0, poll_max_interval=30.0)
    waits = [busy_backoff(attempts, None, settings) for attempts in range(6)]
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert busy_backoff(0, 45.0, settings) == 45.0


async def test_a_provider_that_keeps_refusing_as_busy_fails_the_task_at_its_deadline(
    start_app: Any, piapi_sim: Any
) -> None:
    piapi_sim.script.submit_http_status = 429
    client = await start_app(poll_initial=0.05, poll_max_interval=0.2, task_deadline=1.0)
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    done = await wait_for_status(client, task["id"], timeout=20)
    assert done["status"] == "failed"
    assert "timeout" in done["error"] and "busy" in done["error"]
    assert len(piapi_sim.received) >= 2  # it was tried again before giving up


async def test_an_interrupted_wave_send_is_made_again_under_its_idempotency_key(
    tmp_path: Path, wave_sim: Any
) -> None:
    wave_sim.script.lose_answers = 1
    wave_sim.script.manual = True
    served = ServedReelhook({
        "REELHOOK_DATABASE": str(tmp_path / "wave.db"), "REELHOOK_SECRET_KEY": new_fernet_key(),
        "WAVE_BASE_URL": wave_sim.base_url, "WAVE_API_KEY": wave_sim.api_key,
    })
    await served.start()
    try:
        async with served.client() as client:
            posting = asyncio.ensure_future(client.post(
                "/v1/tasks", json=wave(), headers={"Idempotency-Key": "wave-once"}
            ))
            for _ in range(500):
                if wave_sim.received:
                    break
                await asyncio.sleep(0.02)
            await served.kill()  # the answer is lost with the process
            with contextlib.suppress(httpx.HTTPError):
                await posting
        await served.start()
        async with served.client() as client:
            [task] = (await client.get("/v1/tasks")).json()["tasks"]
            for _ in range(500):
                shown = (await client.get(f"/v1/tasks/{task['id']}")).json()
                if shown["provider_task_id"] or shown["status"] == "failed":
                    break
                await asyncio.sleep(0.02)
        assert shown["status"] != "failed", shown["error"]
        assert shown["provider_task_id"] in wave_sim.tasks
        assert len(wave_sim.tasks) == 1  # the resend made no second task
        keys = [item["headers"].get("Idempotency-Key") for item in wave_sim.received]
        assert keys == ["wave-once", "wave-once"]
    finally:
        await served.signal(15)
