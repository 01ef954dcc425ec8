"""Callback verification and recording: secrets, duplicates, order, malformed bodies."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp import ClientSession, web

from receiver import keys
from receiver.sandbox.providers import LocalServer
from receiver.sandbox.providers.onemin import PNG
from tests.helpers import (
    events_of,
    piapi_callback,
    post_callback,
    scrape,
    skyreels,
    total,
    wait_for_status,
)


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


@pytest.fixture
async def quiet_task(client: Any, piapi_sim: Any) -> dict[str, Any]:
    """A submitted task whose simulator sends no callbacks of its own, with its secret."""
    piapi_sim.script.drop_callbacks = True
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    hook = piapi_sim.received[-1]["body"]["config"]["webhook_config"]
    return {"task": task, "secret": hook["secret"], "path": f"/callbacks/piapi/{task['id']}"}


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-of-the-right-length-0123456789abc"])
async def test_wrong_or_missing_secret_is_401_and_records_nothing(
    client: Any, quiet_task: dict[str, Any], secret: str | None
) -> None:
    before = await events_of(client, quiet_task["task"]["id"])
    body = piapi_callback(quiet_task["task"], "completed", output={"video_url": "https://x/v.mp4"})
    response = await post_callback(client, quiet_task["path"], body, secret)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"
    assert await events_of(client, quiet_task["task"]["id"]) == before
    task = await (await client.get(f"/v1/tasks/{quiet_task['task']['id']}")).json()
    assert task["status"] == "queued"


async def test_another_tasks_secret_is_refused(
    client: Any, piapi_sim: Any, quiet_task: dict[str, Any]
) -> None:
    other = await (await client.post("/v1/tasks", json=skyreels(prompt="another"))).json()
    other_secret = piapi_sim.received[-1]["body"]["config"]["webhook_config"]["secret"]
    body = piapi_callback(quiet_task["task"], "completed")
    response = await post_callback(client, quiet_task["path"], body, other_secret)
    assert response.status == 401
    assert other["id"] != quiet_task["task"]["id"]
    assert [
        e for e in await events_of(client, quiet_task["task"]["id"]) if e["source"] == "callback"
    ] == []


async def test_retried_callback_is_recorded_once(client: Any, quiet_task: dict[str, Any]) -> None:
    before = await scrape(client)
    body = piapi_callback(quiet_task["task"], "processing", timestamp=1700000000)
    first = await post_callback(client, quiet_task["path"], body, quiet_task["secret"])
    again = await post_callback(client, quiet_task["path"], body, quiet_task["secret"])
    assert first.status == again.status == 200
    assert (await first.json())["duplicate"] is False
    assert (await again.json())["duplicate"] is True
    after = await scrape(client)
    for outcome in ("recorded", "duplicate"):  # counted as the handler judged each
        name, labels = "reelhook_callbacks_total", {"provider": "piapi", "outcome": outcome}
        assert total(after, name, **labels) - total(before, name, **labels) == 1
    callbacks = [
        e for e in await events_of(client, quiet_task["task"]["id"]) if e["source"] == "callback"
    ]
    assert len(callbacks) == 1


async def test_late_processing_after_completed_keeps_succeeded(
    client: Any, quiet_task: dict[str, Any]
) -> None:
    task, path, secret = quiet_task["task"], quiet_task["path"], quiet_task["secret"]
    done = piapi_callback(task, "Completed", output={"video_url": "https://cdn.example/v.mp4"})
    assert (await post_callback(client, path, done, secret)).status == 200
    late = piapi_callback(task, "processing", timestamp=1)
    assert (await post_callback(client, path, late, secret)).status == 200
    final = await (await client.get(f"/v1/tasks/{task['id']}")).json()
    assert final["status"] == "succeeded"
    assert final["video_url"] == "https://cdn.example/v.mp4"
    statuses = [
        e["provider_status"]
        for e in await events_of(client, task["id"])
        if e["source"] == "callback"
    ]
    assert statuses == ["completed", "processing"]


@pytest.mark.parametrize("shape", ["output.video", "output.video.url"])
async def test_framepack_video_url_variants(
    client: Any, quiet_task: dict[str, Any], shape: str
) -> None:
    url = "https://cdn.example/framepack.mp4"
    output = {"video": url} if shape == "output.video" else {"video": {"url": url}}
    body = piapi_callback(quiet_task["task"], "completed", output=output)
    await post_callback(client, quiet_task["path"], body, quiet_task["secret"])
    final = await (await client.get(f"/v1/tasks/{quiet_task['task']['id']}")).json()
    assert final["video_url"] == url


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe", b"[]", b'{"timestamp": 1}', b'{"data": {"status": "completed"}}'],
)
async def test_malformed_callback_is_400(
    client: Any, quiet_task: dict[str, Any], body: bytes
) -> None:
    response = await post_callback(client, quiet_task["path"], body, quiet_task["secret"])
    assert response.status == 400
    assert "malformed callback" in (await response.json())["error"]["message"]


async def test_callback_for_unknown_task_is_404(client: Any) -> None:
    secret = client.app[keys.SECRETS].new_callback_secret("tsk_nope")
    response = await post_callback(client, "/callbacks/piapi/tsk_nope", b"{}", secret)
    assert response.status == 404


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_callback_that_says_it_is_not_json_is_415(
    client: Any, quiet_task: dict[str, Any], kind: str
) -> None:
    body = piapi_callback(quiet_task["task"], "processing")
    headers = {"content-type": kind, "x-webhook-secret": quiet_task["secret"]}
    response = await client.post(quiet_task["path"], data=body, headers=headers)
    assert response.status == 415
    assert (await response.json())["error"]["field"] == "Content-Type"
    assert [e for e in await events_of(client, quiet_task["task"]["id"])
            if e["source"] == "callback"] == []
    unlabelled = await client.post(quiet_task["path"], data=body,
                                   headers={"x-webhook-secret": quiet_task["secret"]},
                                   skip_auto_headers=["Content-Type"])
    assert unlabelled.status == 200  # no Content-Type at all: read as the JSON it is


async def test_a_callback_labelled_only_as_bytes_is_read_as_json(
    client: Any, quiet_task: dict[str, Any]
) -> None:
    """aiohttp labels a bytes body application/octet-stream: that says nothing of its format,
    so the body is read as JSON, and a malformed one is 400 like any other."""
    headers = {"content-type": "application/octet-stream", "x-webhook-secret": quiet_task["secret"]}
    malformed = await client.post(quiet_task["path"], data=b"{not json", headers=headers)
    assert malformed.status == 400
    assert "malformed callback" in (await malformed.json())["error"]["message"]
    body = piapi_callback(quiet_task["task"], "processing")
    assert (await client.post(quiet_task["path"], data=body, headers=headers)).status == 200
    assert [e["status"] for e in await events_of(client, quiet_task["task"]["id"])
            if e["source"] == "callback"] == ["running"]


@pytest.mark.parametrize("secret", ["made.up", "", None])
async def test_unknown_task_is_404_whatever_the_secret(client: Any, secret: str | None) -> None:
    response = await post_callback(client, "/callbacks/piapi/tsk_nope", b"{}", secret)
    assert response.status == 404
    assert "no task with id 'tsk_nope'" in (await response.json())["error"]["message"]


async def test_a_made_up_secret_for_a_task_that_exists_is_401(
    client: Any, quiet_task: dict[str, Any]
) -> None:
    for _ in range(3):  # the first reads the task, the others find it in memory: same answer
        response = await post_callback(client, quiet_task["path"], b"{}", "made.up")
        assert response.status == 401
    assert client.app[keys.KNOWN_TASKS].exists(quiet_task["task"]["id"]) is True


async def test_forged_callbacks_for_missing_tasks_read_each_id_once_at_most(
    client: Any,
) -> None:
    known = client.app[keys.KNOWN_TASKS]
    missing = "tsk_" + "0" * 28  # the shape of a task id, no such task
    for _ in range(3):
        response = await post_callback(client, f"/callbacks/piapi/{missing}", b"{}", "made.up")
        assert response.status == 404
    assert known.exists(missing) is False  # read once, remembered
    odd = await post_callback(client, "/callbacks/piapi/tsk_nope", b"{}", "made.up")
    assert odd.status == 404 and known.exists("tsk_nope") is None  # not even read


async def test_secret_of_the_right_shape_but_not_stored_is_401(
    client: Any, quiet_task: dict[str, Any]
) -> None:
    """A secret we made for this task id but never handed out (e.g. an old key's) is refused."""
    task = quiet_task["task"]
    forged = client.app[keys.SECRETS].new_callback_secret(task["id"])
    response = await post_callback(
        client, quiet_task["path"], piapi_callback(task, "completed"), forged
    )
    assert response.status == 401


@pytest.mark.parametrize("kind", ["wrong", "made for this task, never handed out", "missing"])
async def test_after_a_verified_callback_another_secret_is_still_401(
    client: Any, quiet_task: dict[str, Any], kind: str
) -> None:
    """Once a callback has been verified, its task's secret is remembered in memory: the next
    callbacks must still carry exactly that secret."""
    task, path, secret = quiet_task["task"], quiet_task["path"], quiet_task["secret"]
    first = piapi_callback(task, "processing", timestamp=1700000001)
    assert (await post_callback(client, path, first, secret)).status == 200
    others = {
        "wrong": secret[:-1] + ("A" if secret[-1] != "A" else "B"),
        "made for this task, never handed out": client.app[keys.SECRETS].new_callback_secret(
            task["id"]
        ),
        "missing": None,
    }
    done = piapi_callback(task, "completed", output={"video_url": "https://x/v.mp4"})
    response = await post_callback(client, path, done, others[kind])
    assert response.status == 401
    after = await (await client.get(f"/v1/tasks/{task['id']}")).json()
    assert after["status"] == "running" and after["video_url"] is None
    assert (await post_callback(client, path, done, secret)).status == 200


async def test_callbacks_beyond_the_concurrency_limit_are_503_and_record_nothing(
    client: Any, quiet_task: dict[str, Any]
) -> None:
    task, path, secret = quiet_task["task"], quiet_task["path"], quiet_task["secret"]
    slots = client.app[keys.CALLBACK_SLOTS]
    held = 0
    while slots.take():  # every slot busy with callbacks under way
        held += 1
    assert held == client.app[keys.SETTINGS].max_concurrent_callbacks
    body = piapi_callback(task, "processing", timestamp=1700000002)
    refused = await post_callback(client, path, body, secret)
    assert refused.status == 503 and refused.headers["Retry-After"] == "1"
    assert (await refused.json())["error"]["code"] == "unavailable"
    assert [e for e in await events_of(client, task["id"]) if e["source"] == "callback"] == []
    slots.give_back()
    assert (await post_callback(client, path, body, secret)).status == 200
    assert slots.taken == held - 1  # the accepted one gave its slot back


async def test_callback_about_another_provider_task_is_400(
    client: Any, quiet_task: dict[str, Any]
) -> None:
    task = dict(quiet_task["task"], provider_task_id="someone-else")
    response = await post_callback(
        client, quiet_task["path"], piapi_callback(task, "completed"), quiet_task["secret"]
    )
    assert response.status == 400


async def test_lost_answer_makes_simulator_retry_and_event_is_recorded_once(
    start_app: Any, piapi_sim: Any, settings: Any
) -> None:
    """A proxy forwards each callback to reelhook but answers the simulator 500 the first time
    (the answer was lost): PiAPI retries, reelhook records each callback once."""
    seen: set[bytes] = set()

    async def flaky(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {
            "content-type": "application/json",
            "x-webhook-secret": request.headers.get("x-webhook-secret", ""),
        }
        async with (
            ClientSession() as session,
            session.post(
                f"{settings.public_url}{request.path}", data=body, headers=headers
            ) as answer,
        ):
            status = answer.status
        if body not in seen:
            seen.add(body)
            return web.Response(status=500)
        return web.Response(status=status)

    proxy_app = web.Application()
    proxy_app.router.add_post("/{tail:.*}", flaky)
    async with LocalServer(proxy_app) as proxy:
        client = await start_app(public_url=proxy.url)
        task = await (await client.post("/v1/tasks", json=skyreels())).json()
        await piapi_sim.wait_idle()
    mine = [s.answer for s in piapi_sim.sent if s.task_id == task["provider_task_id"]]
    assert mine == [500, 200, 500, 200, 500, 200]
    statuses = [
        e["provider_status"]
        for e in await events_of(client, task["id"])
        if e["source"] == "callback"
    ]
    assert statuses == ["pending", "processing", "completed"]
    assert (await (await client.get(f"/v1/tasks/{task['id']}")).json())["status"] == "succeeded"


async def test_callbacks_echoing_a_large_base64_image_are_recorded_without_it(
    client: Any, piapi_sim: Any
) -> None:
    """PiAPI's callbacks carry the task object, its input included: a task sent a 600 KB image
    as base64 gets callbacks larger than that, recorded (not 413) with the image as its size."""
    image = PNG + bytes(range(256)) * 1800
    encoded = base64.b64encode(image).decode()
    task = await (await client.post(
        "/v1/tasks", json=skyreels(image="data:image/png;base64," + encoded)
    )).json()
    finished = await wait_for_status(client, task["id"])
    assert finished["status"] == "succeeded"
    callbacks = [e for e in await events_of(client, task["id"]) if e["source"] == "callback"]
    assert {"running", "succeeded"} <= {e["status"] for e in callbacks}
    for event in callbacks:
        echoed = event["payload"]["data"]["input"]["image"]
        assert echoed == f"(base64 image, {len(encoded)} characters)"
    assert piapi_sim.received[0]["body"]["input"]["image"] == encoded  # sent whole
