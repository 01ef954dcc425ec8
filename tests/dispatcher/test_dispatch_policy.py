"""The retry policy as pure functions, the dispatcher's settings, and the notice commands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from dispatcher.errors import ConfigError, DestinationGone, Refused, Unreachable
from dispatcher.retry import (
    DEFAULT_SCHEDULE,
    MAX_RETRY_AFTER,
    Outcome,
    outcome_of,
    parse_retry_after,
    retry_after,
)
from receiver.cli.commands import main
from receiver.errors import SettingsError
from receiver.services.secrets import new_fernet_key
from receiver.settings import from_environ
from tests.helpers import API_TOKEN, FAST_RETRIES, skyreels, wait_delivered

GOOD = {"REELHOOK_API_TOKEN": "a" * 20, "REELHOOK_SECRET_KEY": new_fernet_key()}


@pytest.mark.parametrize(("error", "retried"), [
    (Unreachable("refused"), True),
    (Unreachable("slow", timeout=True), True),
    (Refused("x", 500), True),
    (Refused("x", 503), True),
    (Refused("x", 408), True),
    (Refused("x", 429), True),
    (Refused("x", 400), False),
    (Refused("x", 401), False),
    (Refused("x", 404), False),
    (Refused("x", 302), False),
    (Refused("x", 451, protocol="smtp"), True),
    (Refused("x", 550, protocol="smtp"), False),
    (DestinationGone("gone", 410), False),
    (ConfigError("no smtp"), False),
])
def test_which_outcomes_are_retried(error: Any, retried: bool) -> None:
    outcome = outcome_of(error, 1, None)
    assert (retry_after(outcome) is not None) is retried


def test_default_schedule_is_svix_like_with_jitter() -> None:
    assert DEFAULT_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000)
    waits = [retry_after(Outcome(n, 500, error="x")) for n in range(1, 9)]
    assert waits == [*DEFAULT_SCHEDULE, None]
    assert retry_after(Outcome(2, 500, error="x"), spread=1.0) == pytest.approx(360)
    assert retry_after(Outcome(2, 500, error="x"), spread=-1.0) == pytest.approx(240)


def test_retry_after_overrides_the_wait_but_not_the_end() -> None:
    assert retry_after(Outcome(1, 429, error="x", retry_after=42.0)) == 42.0
    assert retry_after(Outcome(1, 503, error="x", retry_after=1e9)) == MAX_RETRY_AFTER
    assert retry_after(Outcome(8, 429, error="x", retry_after=1.0)) is None
    assert retry_after(Outcome(1, 400, error="x", retry_after=1.0)) is None
    assert retry_after(Outcome(1, 200)) is None


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120", now.timestamp()) == 120
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now.timestamp()) == pytest.approx(30)
    assert parse_retry_after("soon", now.timestamp()) is None
    assert parse_retry_after(None, now.timestamp()) is None


@pytest.mark.parametrize(("env", "named"), [
    ({"REELHOOK_RETRY_SCHEDULE": "5,soon"}, "REELHOOK_RETRY_SCHEDULE"),
    ({"REELHOOK_RETRY_SCHEDULE": "-1"}, "REELHOOK_RETRY_SCHEDULE"),
    ({"REELHOOK_DELIVERY_TIMEOUT": "0"}, "REELHOOK_DELIVERY_TIMEOUT"),
    ({"REELHOOK_SLACK_MIN_INTERVAL": "fast"}, "REELHOOK_SLACK_MIN_INTERVAL"),
    ({"REELHOOK_DISPATCH_INTERVAL": "999"}, "REELHOOK_DISPATCH_INTERVAL"),
    ({"REELHOOK_WORKER": "maybe"}, "REELHOOK_WORKER"),
    ({"REELHOOK_EMAIL_TO": "a@example.com"}, "REELHOOK_EMAIL_TO"),
    ({"REELHOOK_SMTP_URL": "smtp://mail.example.com"}, "REELHOOK_EMAIL_FROM"),
])
def test_bad_dispatch_settings_name_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        from_environ({**GOOD, **env})


def test_dispatch_settings_are_read() -> None:
    settings = from_environ({
        **GOOD, "REELHOOK_RETRY_SCHEDULE": "0.5, 2", "REELHOOK_DELIVERY_TIMEOUT": "3",
        "REELHOOK_SLACK_MIN_INTERVAL": "0", "REELHOOK_WORKER": "off",
        "REELHOOK_SMTP_URL": "smtps://u:p@mail.example.com", "REELHOOK_EMAIL_FROM": "r@example.com",
        "REELHOOK_EMAIL_TO": "a@example.com, b@example.com",
    })
    assert settings.retry_schedule == (0.5, 2.0) and settings.delivery_timeout == 3.0
    assert settings.slack_min_interval == 0.0 and settings.run_worker is False
    assert settings.email_to == ("a@example.com", "b@example.com")
    assert from_environ(GOOD).retry_schedule == DEFAULT_SCHEDULE


async def test_deliveries_and_redeliver_commands(
    start_app: Any, slack_sink: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await start_app(**FAST_RETRIES)
    body = skyreels(notify=[{"channel": "slack", "url": slack_sink.url}])
    task = await (await client.post("/v1/tasks", json=body)).json()
    [delivery] = await wait_delivered(client, task["id"])
    monkeypatch.setenv("REELHOOK_URL", str(client.make_url("")).rstrip("/"))
    monkeypatch.setenv("REELHOOK_API_TOKEN", API_TOKEN)

    assert await asyncio.to_thread(main, ["deliveries", "--status", "delivered"]) == 0
    listing = capsys.readouterr().out
    assert task["id"] in listing and "delivered" in listing and "http://127.0.0.1/…" in listing
    assert "xoxSecretHookToken42" not in listing
    assert await asyncio.to_thread(main, ["deliveries", "--task", task["id"]]) == 0
    assert task["id"] in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["redeliver", str(delivery["id"])]) == 0
    assert f"delivery {delivery['id']} is pending again" in capsys.readouterr().out
    await slack_sink.wait_for(2)
    assert await asyncio.to_thread(main, ["redeliver", "999999"]) == 1
    assert "404" in capsys.readouterr().err
