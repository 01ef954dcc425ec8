"""1min.ai: image URLs that cannot be fetched and answers of shapes 1min.ai does not send fail the
task with a message instead of leaving it queued, and the queue's background job never dies."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from dispatcher.wakeup import Wakeup
from receiver.providers.base import Provider, TaskRequest
from receiver.providers.errors import ProviderProtocolError
from receiver.providers.onemin import record_report
from receiver.secrets import SecretBox, new_fernet_key
from receiver.settings import Settings
from receiver.submit_queue import SubmitQueue
from store import NewTask, Store
from tests.conftest import onemin, wait_for_status


async def test_invalid_image_url_fails_the_task(client: Any, onemin_sim: Any) -> None:
    task = await (await client.post("/v1/tasks", json=onemin(image="http://éé..com/x.png"))).json()
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
    """A provider whose submit is sent in the background, like 1min.ai's."""

    name = "onemin"
    background_submit = True


async def test_unexpected_error_in_background_send_fails_the_task(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "queue.db"))
    try:
        await store.create_task(NewTask(id="tsk_" + "0" * 28, provider="onemin",
                                        model="Qubico/skyreels", request={}))

        async def send(*args: Any) -> None:
            raise RuntimeError("a bug")

        settings = Settings(api_tokens=("t" * 20,), secret_key=new_fernet_key().encode())
        secrets = SecretBox(settings.secret_key)
        queue = SubmitQueue(
            store.submits, secrets, settings, {}, send, store.record_event, Wakeup()
        )
        provider: Provider = _Broken()  # type: ignore[assignment]
        request = TaskRequest(provider="onemin", model="Qubico/skyreels")
        await queue.offer("tsk_" + "0" * 28, provider, request, "secret", None)
        deadline = time.monotonic() + 10
        task = await store.get_task("tsk_" + "0" * 28)
        while task["status"] == "queued" and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            task = await store.get_task("tsk_" + "0" * 28)
        assert task["status"] == "failed"
        assert "failed unexpectedly (RuntimeError)" in task["error"]
    finally:
        await store.close()
