"""1min.ai: upload, the slow synchronous call in the background, and what a restart does."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatcher.wakeup import Wakeup
from receiver.providers.base import Provider, TaskRequest
from receiver.providers.errors import ProviderProtocolError
from receiver.providers.onemin import record_report
from receiver.services.secrets import SecretBox, new_fernet_key
from receiver.services.sends import Send
from receiver.services.submit_queue import SubmitQueue
from receiver.settings import Settings
from store import NewTask, SqliteStore
from tests.helpers import PNG_DATA_URI, onemin, until, wait_for_status


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


async def test_data_uri_is_uploaded_and_task_succeeds(client: Any, onemin_sim: Any) -> None:
    onemin_sim.script.delay = 0.3
    response = await client.post("/v1/tasks", json=onemin(aspect_ratio="9:16"))
    assert response.status == 202
    task = await response.json()
    assert task["status"] == "queued" and task["cost_usd"] is None
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    assert done["provider_task_id"].startswith("record-")
    assert done["video_url"].startswith(
        f"{onemin_sim.base_url}/videos/{done['provider_task_id']}.mp4?X-Amz-Date="
    )
    # The presigned link's own expiry is recorded: the copy must be made before it.
    expires = done["video"]["expires_at"]
    assert expires is not None and expires > done["updated_at"]
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


# Image URLs that cannot be fetched and answers of shapes 1min.ai does not send fail the task
# with a message; the queue's background job never dies.

async def test_invalid_image_url_is_refused_or_fails_the_task(
    start_app: Any, onemin_sim: Any
) -> None:
    body = onemin(image="http://éé..com/x.png")
    guarded = await start_app()
    refused = await guarded.post("/v1/tasks", json=body)
    assert refused.status == 422 and (await refused.json())["error"]["field"] == "image"
    await guarded.close()
    # Without the guard's check at submit (the demo's setting), the fetch finds it out.
    client = await start_app(allow_private_urls=True)
    task = await (await client.post("/v1/tasks", json=body)).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "failed"
    assert "image URL is not valid" in done["error"]
    assert onemin_sim.received == []


async def test_unresolvable_image_host_fails_the_task(start_app: Any, onemin_sim: Any) -> None:
    client = await start_app(allow_private_urls=False)
    body = onemin(image="https://nonexistent-host-zz.invalid/a.png")
    task = await (await client.post("/v1/tasks", json=body)).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "failed"
    assert "could not fetch image" in done["error"]
    assert onemin_sim.received == []


@pytest.mark.parametrize(
    ("malformed", "words"),
    [
        ("detail_string", "aiRecordDetail is not an object"),
        ("result_dict", "resultObject is not a list"),
        ("file_content_list", "non-object fileContent"),
        ("asset_list", "non-object asset"),
    ],
)
async def test_malformed_answers_fail_the_task(
    client: Any, onemin_sim: Any, malformed: str, words: str
) -> None:
    onemin_sim.script.malformed = malformed
    task = await (await client.post("/v1/tasks", json=onemin())).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "failed"
    assert words in done["error"]


@pytest.mark.parametrize(
    "record",
    [
        {"status": "FAILED", "aiRecordDetail": "oops"},
        {"status": "SUCCESS", "aiRecordDetail": ["x"]},
        {"status": "SUCCESS", "aiRecordDetail": {"resultObject": {"a": "b"}}},
        {"status": "SUCCESS", "aiRecordDetail": {"resultObject": "video.mp4"}},
    ],
)
def test_record_report_refuses_other_shapes(record: dict[str, Any]) -> None:
    with pytest.raises(ProviderProtocolError):
        record_report({"aiRecord": {"uuid": "r-1", **record}})


class _Broken:
    """A provider whose submit is sent in the background, like 1min.ai's, and whose adapter
    has a bug: its submit raises what no provider error is."""

    name = "onemin"
    background_submit = True
    supports_callbacks = False

    async def submit(self, *args: Any) -> None:
        raise RuntimeError("a bug")


async def test_unexpected_error_in_background_send_fails_the_task(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="reelhook.queue")
    store = await SqliteStore.open(str(tmp_path / "queue.db"))
    http = httpx.AsyncClient()
    try:
        await store.create_task(NewTask(id="tsk_" + "0" * 28, provider="onemin",
                                        model="Qubico/skyreels", request={}))
        settings = Settings(api_tokens=("t" * 20,), secret_key=new_fernet_key().encode())
        secrets = SecretBox(settings.secret_key)
        queue = SubmitQueue(
            store.submits, store.get_task, secrets, settings, {}, http, store.record_event,
            Wakeup(),
        )
        provider: Provider = _Broken()  # type: ignore[assignment]
        request = TaskRequest(provider="onemin", model="Qubico/skyreels")
        await queue.offer(Send("tsk_" + "0" * 28, provider, request, "secret"))
        deadline = time.monotonic() + 10
        task = await store.get_task("tsk_" + "0" * 28)
        while task["status"] == "queued" and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            task = await store.get_task("tsk_" + "0" * 28)
        assert task["status"] == "failed"
        assert "failed unexpectedly (RuntimeError)" in task["error"]
        # Logged loudly, with the traceback, not just the exception's type name.
        [record] = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
        assert record.levelno == logging.ERROR and record.exc_info is not None
        assert "a bug" in caplog.text
    finally:
        await http.aclose()
        await store.close()


async def test_cancel_during_the_long_call_says_1min_ai_has_no_cancel(
    client: Any, onemin_sim: Any
) -> None:
    """The call has started: "try again in a moment" could never come true, so the answer is
    the provider's own reason, and the task goes on."""
    onemin_sim.script.hang = True
    task = await (await client.post("/v1/tasks", json=onemin(image=PNG_DATA_URI))).json()
    await until(lambda: onemin_sim.in_flight == 1, what="the long call under way")
    answer = await client.post(f"/v1/tasks/{task['id']}/cancel")
    assert answer.status == 409
    message = (await answer.json())["error"]["message"]
    assert "offers no cancel" in message and "try again" not in message
    after = await (await client.get(f"/v1/tasks/{task['id']}")).json()
    assert after["status"] == "queued"
