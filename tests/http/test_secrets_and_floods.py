"""Secrets stay out of logs and answers; forged callbacks are refused without slowing real ones."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.helpers import API_TOKEN, piapi_callback, post_callback, skyreels, wait_for_status


async def test_no_secret_in_logs_or_answers(
    start_app: Any, piapi_sim: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await start_app()
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    await wait_for_status(client, task["id"])
    await piapi_sim.wait_idle()
    callback_secret = piapi_sim.received[0]["body"]["config"]["webhook_config"]["secret"]
    path = f"/callbacks/piapi/{task['id']}"
    answers = [
        await (await post_callback(client, path, b"{", callback_secret)).text(),
        await (await post_callback(client, path, b"{}", callback_secret[:-2] + "xx")).text(),
        await (
            await client.get("/v1/tasks", headers={"Authorization": "Bearer " + API_TOKEN[:-1]})
        ).text(),
    ]
    piapi_sim.script.submit_http_status = 500
    failed = await (await client.post("/v1/tasks", json=skyreels())).json()
    for route in (
        f"/v1/tasks/{task['id']}",
        f"/v1/tasks/{task['id']}/events",
        "/v1/tasks",
        f"/v1/tasks/{failed['id']}/events",
        "/openapi.json",
        "/v1/costs",
    ):
        answers.append(await (await client.get(route)).text())

    secrets = [
        API_TOKEN,
        settings.secret_key.decode(),
        piapi_sim.api_key,
        callback_secret,
        callback_secret.split(".")[0],
    ]
    for secret in secrets:
        assert secret not in caplog.text
        assert all(secret not in answer for answer in answers)
    # the checks above ran against real refusals and a real provider failure
    assert '"unauthorized"' in answers[1] and '"unauthorized"' in answers[2]
    assert "piapi" in caplog.text and "500" in caplog.text


async def test_forged_flood_is_refused_and_a_real_callback_still_lands(
    client: Any, piapi_sim: Any
) -> None:
    piapi_sim.script.drop_callbacks = True
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    secret = piapi_sim.received[-1]["body"]["config"]["webhook_config"]["secret"]
    path = f"/callbacks/piapi/{task['id']}"
    body = piapi_callback(task, "completed", output={"video_url": "https://cdn.example/v.mp4"})
    forged = [post_callback(client, path, body, f"forged{i}.tag") for i in range(300)]
    real = post_callback(client, path, body, secret)
    answers = await asyncio.gather(real, *forged)
    assert answers[0].status == 200
    assert {answer.status for answer in answers[1:]} == {401}
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    assert [e["provider_status"] for e in events if e["source"] == "callback"] == ["completed"]
