"""The dashboard's destinations page: each registered destination by name, paused, resumed and
test-sent with its buttons; a read-only session sees them without the buttons."""

from __future__ import annotations

import html
from typing import Any

from tests.dashboard.test_dashboard import form_token, sign_in
from tests.helpers import WEBHOOK_SECRET

READER = "read-only-token-for-the-dashboard"


async def test_destinations_are_paused_resumed_and_tested_by_name(
    start_app: Any, webhook_sink: Any, slack_sink: Any
) -> None:
    client = await start_app(slack_webhook_url=slack_sink.url, read_tokens=(READER,))
    made = await (await client.post("/v1/destinations", json={
        "name": "billing <team>", "channel": "webhook", "url": webhook_sink.url,
        "secret": WEBHOOK_SECRET, "metadata": {"plan": "pro"},
    })).json()
    await sign_in(client)
    page = await (await client.get("/dashboard/destinations")).text()
    assert "billing &lt;team&gt;" in page and "settings-slack" in page and "plan=pro" in page
    assert "privateQueryKey77" not in page and "xoxSecretHookToken42" not in page
    csrf = await form_token(client, "/dashboard/destinations")
    base = f"/dashboard/destinations/{made['id']}"
    paused = await client.post(f"{base}/pause", data={"csrf": csrf})
    assert paused.status == 200 and paused.url.path == "/dashboard/destinations"
    assert (await (await client.get(f"/v1/destinations/{made['id']}")).json())["paused"] is True
    await client.post(f"{base}/resume", data={"csrf": csrf})
    assert (await (await client.get(f"/v1/destinations/{made['id']}")).json())["paused"] is False
    tested = html.unescape(await (await client.post(f"{base}/test", data={"csrf": csrf})).text())
    assert "Test notice to billing <team>: delivered" in tested
    assert webhook_sink.accepted[0].verified is True
    refused = await client.post(f"{base}/pause", data={"csrf": "forged"})
    assert refused.status == 403


async def test_a_read_only_session_sees_destinations_without_buttons(
    start_app: Any, webhook_sink: Any
) -> None:
    client = await start_app(read_tokens=(READER,))
    made = await (await client.post("/v1/destinations", json={
        "name": "ops", "channel": "webhook", "url": webhook_sink.url})).json()
    await sign_in(client, token=READER)
    page = await (await client.get("/dashboard/destinations")).text()
    assert "ops" in page and "Send a test notice" not in page and "Pause" not in page
    csrf = await form_token(client, "/dashboard/destinations")
    refused = await client.post(f"/dashboard/destinations/{made['id']}/test",
                                data={"csrf": csrf})
    assert refused.status == 403 and not webhook_sink.received

