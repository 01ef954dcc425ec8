"""Destinations are secrets: encrypted at rest, redacted in answers, never logged; and checked
when a task is submitted."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from receiver.sandbox.sinks import Answer
from tests.helpers import FAST_RETRIES, skyreels, wait_delivered, wait_for_status


async def test_secrets_absent_from_logs_answers_and_database(
    start_app: Any, slack_sink: Any, webhook_sink: Any, mail_sink: Any, db_path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    slack_sink.script = [Answer(500, "oops")]
    webhook_sink.script = [Answer(400, "nope")]
    smtp_url = f"smtp://reelhook:Pa55-smtp-secret@127.0.0.1:{mail_sink.port}"
    client = await start_app(smtp_url=smtp_url, email_from="r@example.com", **FAST_RETRIES)
    notify = [{"channel": "slack", "url": slack_sink.url},
              {"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret},
              {"channel": "email", "to": "someone.private@example.org"}]
    task = await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json()
    await wait_for_status(client, task["id"])
    deliveries = await wait_delivered(client, task["id"], 3)

    secrets = ["xoxSecretHookToken42", "privateQueryKey77", webhook_sink.secret,
               webhook_sink.secret.removeprefix("whsec_"), "Pa55-smtp-secret",
               "someone.private"]
    answers = [await (await client.get(path)).text() for path in (
        f"/v1/tasks/{task['id']}", f"/v1/tasks/{task['id']}/deliveries",
        f"/v1/tasks/{task['id']}/events", "/v1/deliveries", "/v1/deliveries?status=dead",
    )]
    stored = b"".join(
        path.read_bytes() for path in Path(db_path).parent.rglob("reelhook.db*") if path.is_file()
    )
    for secret in secrets:
        assert secret not in caplog.text, secret
        assert all(secret not in answer for answer in answers), secret
        assert secret.encode() not in stored, secret
    labels = {d["destination"]["channel"]: d["destination"]["label"] for d in deliveries}
    assert labels["slack"].startswith("http://127.0.0.1/")
    assert labels["email"] == "s…@example.org"
    # the attempts were made and logged, just without the secrets
    assert "delivery" in caplog.text and "HTTP 400" in caplog.text


@pytest.mark.parametrize(("destination", "field"), [
    ({"channel": "webhook", "url": "https://example.com/h", "secret": "plain-secret"},
     "notify[0].secret"),
    ({"channel": "webhook", "url": "https://example.com/h", "secret": "whsec_!!notbase64"},
     "notify[0].secret"),
    ({"channel": "slack", "url": "ftp://hooks.example.com/x"}, "notify[0].url"),
    ({"channel": "slack", "url": "javascript:alert(1)"}, "notify[0].url"),
    ({"channel": "email", "to": "a@example.com\r\nBcc: b@example.com"}, "notify[0].to"),
    ({"channel": "email", "to": "ana@example.com"}, "notify[0].to"),  # no SMTP server set
])
async def test_bad_destinations_are_refused(
    client: Any, destination: dict[str, str], field: str
) -> None:
    response = await client.post("/v1/tasks", json=skyreels(notify=[destination]))
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["field"] == field
    for value in destination.values():
        if value not in ("webhook", "slack", "email"):
            assert value not in error["message"]


async def test_global_routes_reach_every_task_once(
    start_app: Any, slack_sink: Any, mail_sink: Any
) -> None:
    client = await start_app(slack_webhook_url=slack_sink.url, smtp_url=mail_sink.url,
                             email_from="r@example.com", email_to=("ops@example.com",),
                             **FAST_RETRIES)
    # the task also names the global Slack URL itself: still one notice there
    body = skyreels(notify=[{"channel": "slack", "url": slack_sink.url}])
    task = await (await client.post("/v1/tasks", json=body)).json()
    deliveries = await wait_delivered(client, task["id"], 2)
    assert sorted(d["destination"]["channel"] for d in deliveries) == ["email", "slack"]
    assert len(slack_sink.accepted) == 1 and len(mail_sink.messages) == 1
