"""Text that cannot be sent is refused at the door; Slack gets user text escaped; only http(s)
links become a task's video."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import (
    FAST_RETRIES,
    WEBHOOK_SECRET,
    events_of,
    piapi_callback,
    post_callback,
    skyreels,
    wait_delivered,
)
from tests.http.test_piapi_callbacks import quiet_task

__all__ = ["quiet_task"]

SURROGATE = "\\ud83d"  # a JSON escape for half of a surrogate pair


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (f'"prompt": "a cat {SURROGATE} sleeps"', "prompt"),
        (f'"negative_prompt": "{SURROGATE}"', "negative_prompt"),
        (f'"metadata": {{"tags": ["ok", "x{SURROGATE}"]}}', "metadata.tags[1]"),
        (f'"notify": [{{"channel": "webhook", "url": "https://h.example.com/{SURROGATE}",'
         f' "secret": "{WEBHOOK_SECRET}"}}]', "notify[0].url"),
    ],
)
async def test_a_lone_surrogate_in_any_text_is_422_naming_the_field(
    client: Any, piapi_sim: Any, raw: str, field: str
) -> None:
    valid = skyreels(prompt=None) if raw.startswith('"prompt"') else skyreels()
    body = "{" + json.dumps(valid)[1:-1] + ", " + raw + "}"
    response = await client.post("/v1/tasks", data=body,
                                 headers={"Content-Type": "application/json"})
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["field"] == field and "surrogate" in error["message"]
    assert piapi_sim.received == []
    assert (await (await client.get("/v1/tasks")).json())["tasks"] == []


async def test_an_email_address_with_a_non_ascii_local_part_is_422(
    start_app: Any, mail_sink: Any, piapi_sim: Any
) -> None:
    client = await start_app(smtp_url=mail_sink.url, email_from="r@example.com")
    notify = [{"channel": "email", "to": "jos\u00e9@example.com"}]
    response = await client.post("/v1/tasks", json=skyreels(notify=notify))
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["field"] == "notify[0].to" and "ASCII" in error["message"]
    assert piapi_sim.received == []


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


async def test_slack_messages_escape_user_text_in_every_part(
    start_app: Any, slack_sink: Any, piapi_sim: Any
) -> None:
    client = await start_app(**FAST_RETRIES)
    prompt = "hi <!channel> & <https://evil.example|click here>"
    notify = [{"channel": "slack", "url": slack_sink.url}]
    body = skyreels(prompt=prompt, notify=notify)
    task = await (await client.post("/v1/tasks", json=body)).json()
    await wait_delivered(client, task["id"])
    [message] = [item.body for item in slack_sink.accepted]
    texts = _strings(message)
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;" in message["text"]
    for text in texts:
        assert "<!" not in text and "<https://evil" not in text, text


async def test_a_video_url_that_is_not_http_is_recorded_but_never_the_tasks_video(
    client: Any, quiet_task: dict[str, Any]
) -> None:
    task = quiet_task["task"]
    body = piapi_callback(task, "completed", output={"video_url": "javascript:alert(1)"})
    response = await post_callback(client, quiet_task["path"], body, quiet_task["secret"])
    assert response.status == 200
    shown = await (await client.get(f"/v1/tasks/{task['id']}")).json()
    assert shown["status"] == "succeeded" and shown["video_url"] is None
    events = await events_of(client, task["id"])
    assert any("javascript:alert(1)" in json.dumps(event) for event in events)


async def test_a_video_url_of_megabytes_is_recorded_but_never_the_tasks_video(
    client: Any, quiet_task: dict[str, Any]
) -> None:
    task = quiet_task["task"]
    huge = "https://cdn.example.com/v.mp4?" + "a" * (200 * 1024)  # within the callback cap
    body = piapi_callback(task, "completed", output={"video_url": huge})
    response = await post_callback(client, quiet_task["path"], body, quiet_task["secret"])
    assert response.status == 200
    shown = await (await client.get(f"/v1/tasks/{task['id']}")).json()
    assert shown["status"] == "succeeded" and shown["video_url"] is None
