"""What each channel sends: Slack Block Kit, email over real SMTP, signed webhooks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dispatcher.channels.email import SmtpConfig, _start_tls
from receiver.sandbox.sinks import Answer, MailSink
from tests.helpers import FAST_RETRIES, skyreels, wait_delivered, wait_for_status


async def test_slack_message_has_blocks_and_fallback(start_app: Any, slack_sink: Any,
                                                     piapi_sim: Any) -> None:
    client = await start_app(**FAST_RETRIES)
    prompt = "FPS-24, a woman smiles " + "and waves at the sea " * 20
    body = skyreels(prompt=prompt, notify=[{"channel": "slack", "url": slack_sink.url}])
    task = await (await client.post("/v1/tasks", json=body)).json()
    done = await wait_for_status(client, task["id"])
    [message] = [item.body for item in await slack_sink.wait_for(1)]

    kept_link = f"{client.make_url('')}/v1/tasks/{task['id']}/video?expires="
    # The kept copy's link, which lasts, not the provider's, which dies within a day.
    assert task["id"] in message["text"] and kept_link in message["text"]
    assert done["video_url"] not in message["text"]
    assert message["text"].startswith("Video ready: piapi Qubico/skyreels")
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header" and "Video ready" in blocks[0]["text"]["text"]
    prompt_block = blocks[1]["text"]["text"]
    assert prompt_block.startswith("*Prompt*") and prompt_block.endswith("…")
    assert len(prompt_block) < len(prompt)
    fields = " ".join(field["text"] for field in blocks[2]["fields"])
    for fact in ("succeeded", "piapi", "Qubico/skyreels", "$0.15", "*Took*"):
        assert fact in fields
    [button] = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert button["url"].startswith(kept_link)
    opened = await client.session.get(button["url"])  # no API token: the link is signed
    assert opened.status == 200 and (await opened.read())[4:8] == b"ftyp"
    assert task["id"] in blocks[-1]["elements"][0]["text"]


async def test_slack_message_of_failed_task_shows_error(start_app: Any, slack_sink: Any) -> None:
    client = await start_app(**FAST_RETRIES)
    notify = [{"channel": "slack", "url": slack_sink.url}]
    body = skyreels(prompt="[fail] <b>cat</b>", notify=notify)
    task = await (await client.post("/v1/tasks", json=body)).json()
    done = await wait_for_status(client, task["id"])
    [message] = [item.body for item in await slack_sink.wait_for(1)]
    assert message["text"].startswith("Video failed")
    assert done["error"] in message["text"]
    texts = [b.get("text", {}).get("text", "") for b in message["blocks"]]
    assert any(t.startswith("*Error*") and done["error"] in t for t in texts)
    assert any("&lt;b&gt;cat&lt;/b&gt;" in t for t in texts)  # mrkdwn escaped
    assert not any(b["type"] == "actions" for b in message["blocks"])


async def test_email_over_smtp_has_text_and_html(start_app: Any, mail_sink: Any) -> None:
    client = await start_app(smtp_url=mail_sink.url, email_from="reelhook@example.com",
                             email_to=("ops@example.com",), **FAST_RETRIES)
    body = skyreels(notify=[{"channel": "email", "to": "ana@example.org"}])
    task = await (await client.post("/v1/tasks", json=body)).json()
    done = await wait_for_status(client, task["id"])
    messages = await mail_sink.wait_for(2)
    assert sorted(m["To"] for m in messages) == ["ana@example.org", "ops@example.com"]
    message = messages[0]
    assert message["Subject"] == "Video ready: piapi Qubico/skyreels — FPS-24, a woman smiles"
    assert message["From"] == "reelhook@example.com"
    assert message["Date"] and message["Message-ID"]  # RFC 5322's required origination date
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for fact in ("succeeded", "Qubico/skyreels", "FPS-24, a woman smiles", "$0.15", task["id"]):
        assert fact in text and fact in html
    kept_link = f"{client.make_url('')}/v1/tasks/{task['id']}/video?expires="
    assert f"Video: {kept_link}" in text and done["video_url"] not in text
    assert f'<a href="{kept_link}' in html
    deliveries = await wait_delivered(client, task["id"], 2)
    assert {d["destination"]["label"] for d in deliveries} == {"a…@example.org", "o…@example.com"}


async def test_webhook_is_signed_and_id_is_stable_across_retries(
    start_app: Any, webhook_sink: Any
) -> None:
    webhook_sink.script = [Answer(503, "busy")]
    client = await start_app(**FAST_RETRIES)
    # An integer beyond 64 bits in the metadata: valid JSON, sent as it was given.
    body = skyreels(notify=[{"channel": "webhook", "url": webhook_sink.url,
                             "secret": webhook_sink.secret}], metadata={"order": 2**64 + 1})
    task = await (await client.post("/v1/tasks", json=body)).json()
    done = await wait_for_status(client, task["id"])
    await webhook_sink.wait_for(1)
    first, second = webhook_sink.received
    assert first.verified and second.verified
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.body["type"] == "task.succeeded"
    # The event's time, not the send's: the same body on every attempt of one event.
    assert first.body == second.body and second.body["timestamp"].endswith("Z")
    assert second.body["timestamp"] >= done["created_at"]
    data = second.body["data"]
    assert data["metadata"] == {"order": 2**64 + 1}
    assert data["id"] == task["id"] and data["status"] == "succeeded"
    assert data["video_url"] == done["video_url"] and data["cost_usd"] == 0.15
    assert data["video"]["status"] == "kept" and data["video"]["sha256"]
    assert data["video"]["url"].startswith(f"{client.make_url('')}/v1/tasks/{task['id']}/video?")
    [delivery] = await wait_delivered(client, task["id"])
    assert [a["outcome"] for a in delivery["attempts"]] == ["retrying", "delivered"]
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 200]


async def test_login_to_a_relay_on_loopback_needs_no_starttls(start_app: Any) -> None:
    relay = await MailSink(login=("ana", "s3cret-pw")).start()
    try:
        login = relay.url.replace("smtp://", "smtp://ana:s3cret-pw@")
        client = await start_app(smtp_url=login, email_from="reelhook@example.com",
                                 **FAST_RETRIES)
        body = skyreels(notify=[{"channel": "email", "to": "bo@example.org"}])
        task = await (await client.post("/v1/tasks", json=body)).json()
        [message] = await relay.wait_for(1)
    finally:
        await relay.stop()
    assert relay.logins == ["ana"] and message["To"] == "bo@example.org"
    [delivery] = await wait_delivered(client, task["id"])
    assert delivery["status"] == "delivered"


async def test_a_server_that_cannot_take_the_login_fails_the_notice_at_once(
    start_app: Any, mail_sink: Any
) -> None:
    login = mail_sink.url.replace("smtp://", "smtp://ana:s3cret-pw@")  # mail_sink offers no AUTH
    client = await start_app(smtp_url=login, email_from="reelhook@example.com", **FAST_RETRIES)
    body = skyreels(notify=[{"channel": "email", "to": "ana@example.org"}])
    task = await (await client.post("/v1/tasks", json=body)).json()
    [delivery] = await wait_delivered(client, task["id"])
    # What the server cannot do is final, not a network error retried for a day and a half.
    assert delivery["status"] == "dead" and delivery["attempt_count"] == 1
    assert "AUTH extension is not supported" in delivery["last_error"]
    assert "s3cret-pw" not in str(delivery) and mail_sink.messages == []


def test_a_login_to_another_machine_requires_starttls() -> None:
    remote = SmtpConfig("mail.example.com", 587, "r@example.com", "ana", "pw")
    assert _start_tls(remote) is True  # never a password in the clear over a network
    assert _start_tls(replace(remote, host="127.0.0.1")) is None  # offered: used
    assert _start_tls(replace(remote, host="::1")) is None
    assert _start_tls(replace(remote, host="127.1")) is None  # numeric form of 127.0.0.1
    assert _start_tls(replace(remote, host="LocalHost.")) is None
    assert _start_tls(replace(remote, host="10.0.0.5")) is True  # private, yet a network
    assert _start_tls(replace(remote, username=None, password=None)) is None
    assert _start_tls(replace(remote, implicit_tls=True)) is False


async def test_webhook_with_wrong_secret_fails_verification(start_app: Any,
                                                            webhook_sink: Any) -> None:
    client = await start_app(**FAST_RETRIES)
    other = "whsec_" + "A" * 32
    body = skyreels(notify=[{"channel": "webhook", "url": webhook_sink.url, "secret": other}])
    task = await (await client.post("/v1/tasks", json=body)).json()
    await wait_delivered(client, task["id"])
    assert webhook_sink.received[0].verified is False


def test_the_channel_names_read_without_the_senders_are_the_channels_names() -> None:
    from dispatcher.channels import CHANNEL_NAMES
    from dispatcher.channels.registry import CHANNELS

    assert tuple(channel.name for channel in CHANNELS) == CHANNEL_NAMES
