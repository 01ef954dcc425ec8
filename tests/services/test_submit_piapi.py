"""Submitting PiAPI tasks: every validation rule, idempotency, and the provider refusing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import framepack, refused_port, rule_error, skyreels, wait_for_status


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database

DATA_URI = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4"
    "DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)

INVALID = [
    (skyreels(prompt=None), "prompt", "required"),
    (skyreels(prompt="   "), "prompt", "required"),
    (skyreels(image=None), "image", "required"),
    (skyreels(image="ftp://example.com/a.png"), "image", "http(s) URL"),
    (skyreels(image="data:image/png;base64,@@@"), "image", "base64"),
    (skyreels(image="data:text/plain;base64,aGk="), "image", "data:image"),
    (skyreels(aspect_ratio="4:3"), "aspect_ratio", "16:9, 9:16, 1:1"),
    (skyreels(guidance_scale=0), "guidance_scale", "(0, 10]"),
    (skyreels(guidance_scale=10.5), "guidance_scale", "(0, 10]"),
    (skyreels(duration=5), "duration", "not supported"),
    (skyreels(end_image="https://x.example/e.png"), "end_image", "not supported"),
    (skyreels(resolution="720p"), "resolution", "not supported"),
    (skyreels(extra={"seed": 1}), "extra.seed", "extra does not take seed"),
    (framepack(image=None), "image", "required"),
    (framepack(duration=9), "duration", "10 to 30"),
    (framepack(duration=31), "duration", "10 to 30"),
    (framepack(duration=12.5), "duration", "whole number"),
    (framepack(end_image="not a url"), "end_image", "http(s) URL"),
    (framepack(aspect_ratio="16:9"), "aspect_ratio", "not supported"),
    (framepack(guidance_scale=3), "guidance_scale", "not supported"),
    (skyreels(model="Qubico/hunyuan"), "model", "Qubico/framepack, Qubico/skyreels"),
    (skyreels(provider="runway"), "provider", "one of"),
    (skyreels(prompt=42), "prompt", "must be a string"),
    (skyreels(guidance_scale="high"), "guidance_scale", "must be a number"),
    (skyreels(guidance_scale=True), "guidance_scale", "must be a number"),
    (skyreels(extra=[1]), "extra", "JSON object"),
    (skyreels(metadata="x"), "metadata", "JSON object"),
    (skyreels(promt="typo"), "promt", "unknown field"),
    (skyreels(notify=[{"channel": "pager"}]), "notify[0]", "slack, email, webhook"),
    (
        skyreels(notify=[{"channel": "webhook", "url": "https://h.example/x"}]),
        "notify[0].secret",
        "required",
    ),
]


@pytest.mark.parametrize(("body", "field", "words"), INVALID)
def test_rule(body: dict[str, Any], field: str, words: str) -> None:
    error = rule_error(body)
    assert error is not None, "the request passed the rules"
    assert error.field == field
    assert words in error.message


async def test_invalid_request_is_422_and_changes_nothing(client: Any, piapi_sim: Any) -> None:
    body, field, words = INVALID[0]
    response = await client.post("/v1/tasks", json=body)
    assert response.status == 422
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("invalid_field", field)
    assert words in error["message"]
    assert piapi_sim.received == []
    assert (await (await client.get("/v1/tasks")).json())["tasks"] == []


async def test_valid_edges_are_accepted(client: Any, piapi_sim: Any) -> None:
    for body in (
        skyreels(guidance_scale=10, aspect_ratio="1:1", image=DATA_URI),
        skyreels(guidance_scale=0.01, negative_prompt="blur"),
        framepack(duration=30),
        framepack(duration=None, prompt=None),
    ):
        response = await client.post("/v1/tasks", json=body)
        assert response.status == 202, await response.text()
    sent = [r["body"]["input"] for r in piapi_sim.received]
    assert sent[0]["image"] == DATA_URI.split(",", 1)[1]
    assert sent[3]["duration"] == 10 and "prompt" not in sent[3]


async def test_data_uri_is_not_stored_whole(client: Any) -> None:
    task = await (await client.post("/v1/tasks", json=skyreels(image=DATA_URI))).json()
    events = await (await client.get(f"/v1/tasks/{task['id']}/events")).text()
    assert DATA_URI not in events


async def test_idempotency_key_returns_first_task(client: Any, piapi_sim: Any) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post("/v1/tasks", json=skyreels(), headers=headers)
    again = await client.post("/v1/tasks", json=skyreels(), headers=headers)
    assert (first.status, again.status) == (202, 202)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await first.json())["id"] == (await again.json())["id"]
    assert len(piapi_sim.received) == 1
    listed = (await (await client.get("/v1/tasks")).json())["tasks"]
    assert len(listed) == 1


async def test_idempotency_key_with_different_body_is_409(client: Any, piapi_sim: Any) -> None:
    headers = {"Idempotency-Key": "order-43"}
    await client.post("/v1/tasks", json=skyreels(), headers=headers)
    other = await client.post("/v1/tasks", json=skyreels(prompt="something else"), headers=headers)
    assert other.status == 409
    assert "Idempotency-Key" in (await other.json())["error"]["message"]
    assert len(piapi_sim.received) == 1


async def test_provider_500_at_submit_fails_the_task(client: Any, piapi_sim: Any) -> None:
    piapi_sim.script.submit_http_status = 500
    response = await client.post("/v1/tasks", json=skyreels())
    assert response.status == 202
    task = await response.json()
    assert task["status"] == "failed"
    assert "500" in task["error"] and "piapi" in task["error"]


async def test_error_envelope_at_submit_fails_the_task_with_its_message(
    client: Any, piapi_sim: Any
) -> None:
    piapi_sim.script.submit_error_code = 10000
    task = await (await client.post("/v1/tasks", json=framepack())).json()
    assert task["status"] == "failed"
    assert "insufficient credits" in task["error"]
    assert task["provider_task_id"] is None


async def test_a_bare_create_answer_as_on_the_create_task_page_is_accepted(
    client: Any, piapi_sim: Any
) -> None:
    piapi_sim.script.bare_create_answer = True
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    assert task["status"] == "queued" and task["provider_task_id"] in piapi_sim.tasks
    assert (await wait_for_status(client, task["id"]))["status"] == "succeeded"


async def test_unreachable_provider_fails_the_task(start_app: Any, settings: Any) -> None:
    from receiver.settings import ProviderSettings

    with refused_port() as port:
        dead = {"piapi": ProviderSettings("k", f"http://127.0.0.1:{port}")}
        client = await start_app(providers=dead)
        task = await (await client.post("/v1/tasks", json=skyreels())).json()
    assert task["status"] == "failed"
    assert "could not reach" in task["error"]


async def test_cancel_is_409_for_piapi_and_for_finished_tasks(client: Any) -> None:
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    running = await client.post(f"/v1/tasks/{task['id']}/cancel")
    await wait_for_status(client, task["id"])
    finished = await client.post(f"/v1/tasks/{task['id']}/cancel")
    assert running.status == 409
    assert finished.status == 409
    assert "already succeeded" in (await finished.json())["error"]["message"]


async def test_cancel_of_unfinished_piapi_task_says_piapi_cannot(
    client: Any, piapi_sim: Any
) -> None:
    piapi_sim.script.drop_callbacks = True
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    response = await client.post(f"/v1/tasks/{task['id']}/cancel")
    assert response.status == 409
    assert "PiAPI offers no cancel" in (await response.json())["error"]["message"]


async def test_hanging_provider_is_cut_off_by_the_timeout(start_app: Any, piapi_sim: Any) -> None:
    piapi_sim.script.hang_submit = True
    client = await start_app(provider_timeout=0.3)
    response = await client.post("/v1/tasks", json=skyreels())
    assert response.status == 202
    task = await wait_for_status(client, (await response.json())["id"])
    assert task["status"] == "failed"
    assert "timed out after 0.3 s" in task["error"]
