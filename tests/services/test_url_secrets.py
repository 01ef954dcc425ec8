"""Secrets in user URLs (presigned signatures, user-info) stay out of logs, errors and notices."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import web

from receiver.providers.http import redact_urls, safe_url
from receiver.sandbox.providers import LocalServer
from tests.dashboard.test_dashboard import sign_in
from tests.helpers import FAST_RETRIES, onemin, skyreels, wait_delivered, wait_for_status

SIGNATURE = "f00dbabe5ecret5ignature0123456789"


def test_safe_url_cuts_query_fragment_and_user_info() -> None:
    url = f"https://alice:pw123@bucket.s3.example.com/a/b.png?X-Amz-Signature={SIGNATURE}#frag"
    assert safe_url(url) == "https://bucket.s3.example.com/a/b.png?…"
    text = f"could not fetch {url}: HTTP 403 (see http://x.example/y?token=abc)"
    shown = redact_urls(text)
    assert SIGNATURE not in shown and "pw123" not in shown and "token=abc" not in shown
    assert "https://bucket.s3.example.com/a/b.png?…" in shown


async def test_a_presigned_image_url_that_fails_is_shown_redacted_everywhere(
    start_app: Any, slack_sink: Any, mail_sink: Any, caplog: pytest.LogCaptureFixture,
    trusted_peers: set[tuple[str, int]],
) -> None:
    caplog.set_level(logging.DEBUG)

    async def forbidden(request: web.Request) -> web.Response:
        return web.Response(status=403, text="expired")

    app = web.Application()
    app.router.add_get("/{tail:.*}", forbidden)
    async with LocalServer(app) as images:
        image = (f"http://user:pa55word@127.0.0.1:{images.port}/shot.png"
                 f"?X-Amz-Credential=AKIA&X-Amz-Signature={SIGNATURE}")
        trusted_peers.add(("127.0.0.1", images.port))  # an image host of the operator's
        client = await start_app(
            slack_webhook_url=slack_sink.url, smtp_url=mail_sink.url,
            email_from="r@example.com", email_to=("ops@example.com",), **FAST_RETRIES,
        )
        response = await client.post("/v1/tasks", json=onemin(image=image))
        task = await wait_for_status(client, (await response.json())["id"])
        await wait_delivered(client, task["id"], 2)
    assert task["status"] == "failed"
    assert f"http://127.0.0.1:{images.port}/shot.png?…" in task["error"]
    events = await (await client.get(f"/v1/tasks/{task['id']}/events")).text()
    mail = [message.as_string() for message in await mail_sink.wait_for(1)]
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("reelhook")]
    assert any("403" in line for line in ours)
    logged = [record.getMessage() for record in caplog.records]  # httpx's own lines too
    notices = str([item.body for item in slack_sink.accepted])
    shown = [task["error"], events, notices, *mail, *logged]
    for text in shown:
        assert SIGNATURE not in text and "pa55word" not in text


async def test_a_presigned_url_echoed_by_the_provider_is_redacted_in_events_and_dashboard(
    client: Any, piapi_sim: Any
) -> None:
    image = f"https://alice:pw123@bucket.s3.example.com/in.png?X-Amz-Signature={SIGNATURE}"
    task = await (await client.post("/v1/tasks", json=skyreels(image=image))).json()
    await wait_for_status(client, task["id"])  # PiAPI's callbacks echo the input, image and all
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    echoed = [e["payload"]["data"]["input"]["image"] for e in events if e["source"] == "callback"]
    assert echoed and set(echoed) == {"https://bucket.s3.example.com/in.png?…"}
    await sign_in(client)
    page = await (await client.get(f"/dashboard/tasks/{task['id']}")).text()
    assert "https://bucket.s3.example.com/in.png?" in page  # the … may be escaped in JSON
    for shown in (str(events), page):
        assert SIGNATURE not in shown and "pw123" not in shown
