"""Failing destinations and the operator's alerts through the running app: a destination that
answers 410, or fails every attempt long enough, is disabled with the reason; notice.dead,
destination.disabled and destination.recovered go to REELHOOK_ALERTS_TO (a signed webhook, Slack
or email), a notice.dead at most once an hour per destination; `tick` sends them too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from receiver import keys
from receiver.sandbox.providers import LocalServer
from receiver.sandbox.sinks import Answer, WebhookSink
from receiver.services.secrets import SecretBox, derived_alerts_secret, new_fernet_key
from receiver.settings import unsigned_alerts_warning
from store import EventIn, NewTask, Observation, Registration, open_store
from tests.cli.test_cli_processes import spawn
from tests.cli.test_deploy_commands import finished
from tests.helpers import (
    FAST_RETRIES,
    WEBHOOK_SECRET,
    skyreels,
    until,
    wait_delivered,
    wait_for_status,
)

ALERTS_SECRET = "whsec_QWxlcnRzS2V5Rm9yVGhlT3BlcmF0b3IxMjM0NTY3OA=="


@pytest.fixture
async def alert_sink() -> AsyncIterator[WebhookSink]:
    sink = WebhookSink(ALERTS_SECRET)
    server = await LocalServer(sink.app()).start()
    sink.url = f"{server.url}/alerts"
    yield sink
    sink.release()
    await server.stop()


async def failing_hook(client: Any, sink: WebhookSink, name: str = "billing") -> dict[str, Any]:
    answer = await client.post("/v1/destinations", json={
        "name": name, "channel": "webhook", "url": sink.url, "secret": WEBHOOK_SECRET})
    assert answer.status == 201
    return await answer.json()  # type: ignore[no-any-return]


async def finished_task(client: Any) -> dict[str, Any]:
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    task = await wait_for_status(client, task["id"])
    await wait_delivered(client, task["id"])
    return task


async def test_a_410_disables_the_destination_and_its_recovery_is_told(
    start_app: Any, database: str, webhook_sink: Any, alert_sink: WebhookSink
) -> None:
    webhook_sink.script = [Answer(410, "endpoint deleted")]
    client = await start_app(database=database, alerts_to=("webhook", alert_sink.url),
                             alerts_secret=ALERTS_SECRET, **FAST_RETRIES)
    hook = await failing_hook(client, webhook_sink)
    first = await finished_task(client)
    [disabled] = await alert_sink.wait_for(1)
    assert disabled.verified is True and disabled.body["type"] == "destination.disabled"
    assert disabled.body["data"]["task_id"] == first["id"]
    assert "410" in disabled.body["data"]["reason"]
    assert "127.0.0.1" in disabled.body["data"]["destination"]
    assert disabled.body["data"]["destinations"] == [{"id": hook["id"], "name": "billing"}]
    shown = await (await client.get(f"/v1/destinations/{hook['id']}")).json()
    assert "410" in shown["disabled_reason"]
    await client.post(f"/v1/destinations/{hook['id']}/resume")
    await finished_task(client)
    alerts = await alert_sink.wait_for(2)
    assert [a.body["type"] for a in alerts] == ["destination.disabled", "destination.recovered"]


async def test_webhook_alerts_without_their_own_secret_are_signed_with_one_made_from_the_key(
    start_app: Any, webhook_sink: Any, alert_sink: WebhookSink
) -> None:
    """REELHOOK_ALERTS_SECRET is optional: unset, serve starts, warns, and signs webhook alerts
    with a key made from REELHOOK_SECRET_KEY (the same in every process and after restarts)."""
    webhook_sink.script = [Answer(410, "endpoint deleted")]
    client = await start_app(alerts_to=("webhook", alert_sink.url), **FAST_RETRIES)
    settings = client.app[keys.SETTINGS]
    assert settings.alerts_secret is None
    assert "REELHOOK_ALERTS_SECRET is unset" in (unsigned_alerts_warning(settings) or "")
    alert_sink.secret = derived_alerts_secret(settings.secret_key)
    await failing_hook(client, webhook_sink)
    await finished_task(client)
    [disabled] = await alert_sink.wait_for(1)
    assert disabled.verified is True and disabled.body["type"] == "destination.disabled"


async def test_dead_notices_alert_once_an_hour_in_slack(
    start_app: Any, webhook_sink: Any, slack_sink: Any
) -> None:
    webhook_sink.script = [Answer(400, "<!channel> bad")] * 3
    client = await start_app(alerts_to=("slack", slack_sink.url), **FAST_RETRIES)
    await failing_hook(client, webhook_sink, name="<!here> billing")
    for _ in range(3):
        await finished_task(client)
    [alert] = await slack_sink.wait_for(1)
    assert alert.body["text"].startswith("reelhook notice.dead:")
    # named beside the address's label; a name or an answer cannot ping the channel or link
    assert "&lt;!here&gt; billing (" in alert.body["text"]
    assert "&lt;!channel&gt; bad" in alert.body["text"] and "<" not in alert.body["text"]
    await asyncio.sleep(0.3)  # several worker rounds: still one
    assert len(slack_sink.received) == 1


async def test_a_destination_failing_past_its_time_is_disabled_by_email(
    start_app: Any, webhook_sink: Any, mail_sink: Any
) -> None:
    webhook_sink.script = [Answer(503, "down")] * 50
    client = await start_app(
        alerts_to=("email", "oncall@example.com"), smtp_url=mail_sink.url,
        email_from="reelhook@example.com", disable_after_days=0.3 / 86400,
        **{**FAST_RETRIES, "retry_schedule": (0.2,) * 8},
    )
    hook = await failing_hook(client, webhook_sink)
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    await wait_delivered(client, task["id"], timeout=15)

    async def disabled() -> bool:
        shown = await (await client.get(f"/v1/destinations/{hook['id']}")).json()
        return bool(shown["disabled_reason"])

    await until(disabled, what="the failing destination disabled")
    await until(lambda: bool(mail_sink.messages), what="the alert email")
    [message] = mail_sink.messages
    assert message["To"] == "oncall@example.com"
    assert "destination.disabled" in message["Subject"]
    assert "every attempt failed" in message.get_content()


async def test_tick_sends_the_alerts_of_the_notices_it_sends(
    tmp_path: Any, webhook_sink: Any, slack_sink: Any
) -> None:
    database, key = str(tmp_path / "r.db"), new_fernet_key()
    webhook_sink.script = [Answer(410, "gone")]
    target = SecretBox(key.encode()).encrypt(json.dumps({"url": webhook_sink.url,
                                                         "secret": WEBHOOK_SECRET}))
    store = await open_store(database)
    try:
        await store.destinations.register(Registration(
            "gone hook", "webhook", target, "hook", "route-gone", ("failed",)))
        task_id = f"tsk_{1:028d}"
        await store.create_task(NewTask(task_id, "wave", "m", {}))
        await store.record_event(task_id, EventIn("e", "callback", Observation("failed")))
    finally:
        await store.close()
    env = {"REELHOOK_DATABASE": database, "REELHOOK_SECRET_KEY": key,
           "REELHOOK_ALLOW_PRIVATE_URLS": "on", "REELHOOK_ALERTS_TO": f"slack:{slack_sink.url}"}
    code, out, err = await finished(await spawn("tick", env=env))
    assert code == 0, err
    assert "alerts sent: 1" in out
    [alert] = slack_sink.accepted
    assert alert.body["text"].startswith("reelhook destination.disabled:")
    assert "gone hook (hook)" in alert.body["text"]


@pytest.mark.parametrize(("env", "expected"), [
    ({"REELHOOK_ALERTS_TO": "https://hooks.slack.com/services/T/B/x"},
     ("slack", "https://hooks.slack.com/services/T/B/x")),
    ({"REELHOOK_ALERTS_TO": "slack:http://127.0.0.1:9/hook"}, ("slack", "http://127.0.0.1:9/hook")),
    ({"REELHOOK_ALERTS_TO": "https://ops.example.com/in", "REELHOOK_ALERTS_SECRET": ALERTS_SECRET},
     ("webhook", "https://ops.example.com/in")),
    ({"REELHOOK_ALERTS_TO": "mailto:oncall@example.com", "REELHOOK_SMTP_URL": "smtp://m:25",
      "REELHOOK_EMAIL_FROM": "r@example.com"}, ("email", "oncall@example.com")),
    ({"REELHOOK_ALERTS_TO": "oncall@example.com", "REELHOOK_SMTP_URL": "smtp://m:25",
      "REELHOOK_EMAIL_FROM": "r@example.com"}, ("email", "oncall@example.com")),
    ({}, None),
])
def test_alerts_to_names_its_channel(env: dict[str, str], expected: Any) -> None:
    from receiver.settings import from_environ
    from tests.helpers import GOOD_ENV

    settings = from_environ({**GOOD_ENV, **env})
    assert settings.alerts_to == expected
    assert settings.disable_after_days == 5.0


@pytest.mark.parametrize(("env", "named"), [
    ({"REELHOOK_ALERTS_TO": "https://ops.example.com/in", "REELHOOK_ALERTS_SECRET": "plain"},
     "REELHOOK_ALERTS_SECRET"),
    ({"REELHOOK_ALERTS_TO": "oncall@example.com"}, "REELHOOK_SMTP_URL"),
    ({"REELHOOK_ALERTS_TO": "slack:ftp://x"}, "REELHOOK_ALERTS_TO"),
    ({"REELHOOK_ALERTS_TO": "ops-alerts"}, "neither an http.s. URL nor an email address"),
    ({"REELHOOK_DISABLE_AFTER_DAYS": "soon"}, "REELHOOK_DISABLE_AFTER_DAYS"),
])
def test_bad_alert_settings_stop_the_start_naming_the_setting(
    env: dict[str, str], named: str
) -> None:
    from receiver.errors import SettingsError
    from receiver.settings import from_environ
    from tests.helpers import GOOD_ENV

    with pytest.raises(SettingsError, match=named) as refused:
        from_environ({**GOOD_ENV, **env})
    assert "plain" not in str(refused.value)  # a secret is never repeated back
