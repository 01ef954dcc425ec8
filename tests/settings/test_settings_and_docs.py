"""Settings are checked at start, and every route, setting and command is in the README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from receiver.app import create_app
from receiver.cli.commands import build_parser
from receiver.errors import SettingsError
from receiver.providers import DEFAULT_BASE_URLS, PROVIDER_NAMES
from receiver.settings import disk_warning, from_environ, short_token_warning
from tests.helpers import GOOD_ENV

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
GOOD = GOOD_ENV


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "REELHOOK_API_TOKEN"),
        ({"REELHOOK_API_TOKEN": " , "}, "REELHOOK_API_TOKEN"),
        ({**GOOD, "REELHOOK_API_TOKEN": "tok\u00e9n-0123456789"}, "REELHOOK_API_TOKEN"),
        ({"REELHOOK_API_TOKEN": "a" * 20}, "REELHOOK_SECRET_KEY"),
        ({**GOOD, "REELHOOK_SECRET_KEY": "not-a-key"}, "REELHOOK_SECRET_KEY"),
        ({**GOOD, "PORT": "http"}, "PORT"),
        ({**GOOD, "PORT": "70000"}, "PORT"),
        ({**GOOD, "REELHOOK_PUBLIC_URL": "example.com"}, "REELHOOK_PUBLIC_URL"),
        ({**GOOD, "PIAPI_BASE_URL": "ftp://x"}, "PIAPI_BASE_URL"),
        ({**GOOD, "REELHOOK_SMTP_URL": "http://mail"}, "REELHOOK_SMTP_URL"),
        ({**GOOD, "REELHOOK_SMTP_URL": "smtp://mail:25", "REELHOOK_EMAIL_FROM": "garbage"},
         "REELHOOK_EMAIL_FROM"),
        ({**GOOD, "REELHOOK_EMAIL_FROM": "a@b.c\r\nBcc: x@y.z"}, "REELHOOK_EMAIL_FROM"),
        ({**GOOD, "REELHOOK_NOTIFY_ON": "succeeded,done"}, "REELHOOK_NOTIFY_ON"),
        ({**GOOD, "REELHOOK_EVENT_LOOP": "trio"}, "REELHOOK_EVENT_LOOP"),
        ({**GOOD, "REELHOOK_DB_TIMEOUT": "0"}, "REELHOOK_DB_TIMEOUT"),
        ({**GOOD, "REELHOOK_DB_LOCK_TIMEOUT": "soon"}, "REELHOOK_DB_LOCK_TIMEOUT"),
        ({**GOOD, "REELHOOK_DB_IDLE_TIMEOUT": "-5"}, "REELHOOK_DB_IDLE_TIMEOUT"),
        ({**GOOD, "REELHOOK_TRUSTED_HOSTS": "10.0.0.5"}, "REELHOOK_TRUSTED_HOSTS"),
        ({**GOOD, "REELHOOK_TRUSTED_HOSTS": "10.0.0.5:port"}, "REELHOOK_TRUSTED_HOSTS"),
        ({**GOOD, "REELHOOK_TRUSTED_HOSTS": "10.0.0.5:70000"}, "REELHOOK_TRUSTED_HOSTS"),
        ({**GOOD, "REELHOOK_TRUSTED_HOSTS": "http://10.0.0.5:80/hook"}, "REELHOOK_TRUSTED_HOSTS"),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        from_environ(env)


def test_good_settings_and_token_list() -> None:
    settings = from_environ(
        {
            **GOOD,
            "REELHOOK_API_TOKEN": f"{'a' * 20}, {'b' * 20}",
            "PORT": "9000",
            "REELHOOK_NOTIFY_ON": "running,succeeded",
        }
    )
    assert settings.api_tokens == ("a" * 20, "b" * 20)
    assert settings.port == 9000 and settings.public_url == "http://127.0.0.1:9000"
    assert settings.notify_on == frozenset({"running", "succeeded"})
    assert settings.event_loop == "uvloop"  # installed with reelhook on Linux
    assert from_environ({**GOOD, "REELHOOK_EVENT_LOOP": " AsyncIO "}).event_loop == "asyncio"
    for name, default in DEFAULT_BASE_URLS.items():  # each adapter's own default
        assert settings.provider(name).base_url == default
    assert settings.trusted_hosts == frozenset() and not settings.allow_private_urls
    hosts = " Relay.Internal:8080,,[fd00::5]:443"
    trusting = from_environ({**GOOD, "REELHOOK_TRUSTED_HOSTS": hosts})
    assert trusting.trusted_hosts == frozenset({("relay.internal", 8080), ("fd00::5", 443)})


def test_the_callback_limit_leaves_room_for_the_largest_submit_echoed_back() -> None:
    """PiAPI's callbacks echo the task's input (a base64 image too): by default a callback may
    be as large as a submit, and a little more; REELHOOK_MAX_CALLBACK_BYTES still wins."""
    default = from_environ(GOOD_ENV)
    assert default.max_callback_bytes > default.max_submit_bytes == 16 << 20
    raised = from_environ({**GOOD_ENV, "REELHOOK_MAX_SUBMIT_BYTES": str(64 << 20)})
    assert raised.max_callback_bytes > 64 << 20
    given = from_environ({**GOOD_ENV, "REELHOOK_MAX_CALLBACK_BYTES": "65536"})
    assert given.max_callback_bytes == 65536


def test_database_timeouts_become_the_sessions_settings() -> None:
    assert from_environ(GOOD).db_timeouts.server_settings() == {
        "statement_timeout": "5000", "lock_timeout": "2000",
        "idle_in_transaction_session_timeout": "30000",
    }
    chosen = from_environ({**GOOD, "REELHOOK_DB_TIMEOUT": "2.5", "REELHOOK_DB_LOCK_TIMEOUT": "0.25",
                           "REELHOOK_DB_IDLE_TIMEOUT": "60"})
    assert chosen.db_timeouts.server_settings() == {
        "statement_timeout": "2500", "lock_timeout": "250",
        "idle_in_transaction_session_timeout": "60000",
    }


def test_a_malformed_slack_url_is_refused_without_echoing_it() -> None:
    secret_url = "hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
    with pytest.raises(SettingsError) as refused:
        from_environ({**GOOD, "REELHOOK_SLACK_WEBHOOK_URL": secret_url})
    assert "REELHOOK_SLACK_WEBHOOK_URL" in str(refused.value)
    assert "secret" not in str(refused.value) and "T000" not in str(refused.value)


def test_a_short_token_is_accepted_with_a_warning_and_an_empty_database_is_the_default() -> None:
    short = from_environ({**GOOD, "REELHOOK_API_TOKEN": "test-token", "REELHOOK_DATABASE": ""})
    assert short.api_tokens == ("test-token",)
    assert "shorter than 16 characters" in (short_token_warning(short) or "")
    assert short_token_warning(from_environ(GOOD)) is None
    assert short.database == "./reelhook.db"  # set but empty counts as unset
    named = from_environ({**GOOD, "REELHOOK_SMTP_URL": "smtp://mail:25",
                          "REELHOOK_EMAIL_FROM": "reelhook <noreply@example.com>"})
    assert named.email_from == "reelhook <noreply@example.com>"


def test_serve_refuses_to_start_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "serve"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "reelhook: REELHOOK_API_TOKEN is required: the bearer token clients must send"
    ]


def _settings_in_code() -> set[str]:
    source = "\n".join(p.read_text() for p in (ROOT / "receiver").rglob("*.py"))
    prefixes = "|".join(["REELHOOK", *(name.upper() for name in PROVIDER_NAMES)])
    others = "PORT|DATABASE_URL|WEB_CONCURRENCY|DYNO"
    names = set(re.findall(rf'"((?:{prefixes})_[A-Z_]+|{others})"', source))
    # Per-provider settings are built from the adapters' names, not written out.
    for provider in PROVIDER_NAMES:
        prefix = provider.upper()
        names |= {f"{prefix}_API_KEY", f"{prefix}_BASE_URL", f"REELHOOK_{prefix}_MAX_IN_FLIGHT"}
    return {name for name in names if not name.endswith("_")}


def test_every_setting_is_in_the_readme() -> None:
    missing = sorted(
        name for name in _settings_in_code() if f"`{name}" not in README and name not in README
    )
    assert missing == []


def test_every_route_is_in_the_readme() -> None:
    app = create_app(from_environ(GOOD))
    routes = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    documented = _placeholders_blank(README)
    missing = sorted(route for route in routes if _placeholders_blank(route) not in documented)
    assert missing == []


def _placeholders_blank(text: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", text)


def test_every_command_is_in_the_readme() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands is not None
    missing = sorted(name for name in commands if f"reelhook {name}" not in README)
    assert missing == []


POSTGRES = {**GOOD, "DATABASE_URL": "postgres://reelhook@db.internal:5432/reelhook"}


def test_kept_videos_in_a_local_folder_with_postgres_warn_naming_the_setting() -> None:
    warning = disk_warning(from_environ(POSTGRES))
    assert warning is not None and "REELHOOK_VIDEO_STORE" in warning
    assert "reelhook.videos" in warning
    for elsewhere in ("s3://kept/videos", "off"):
        assert disk_warning(from_environ({**POSTGRES, "REELHOOK_VIDEO_STORE": elsewhere})) is None
    beside = from_environ(GOOD)
    assert beside.videos.location(beside.database) == f"{beside.database}.videos"


@pytest.mark.parametrize(
    ("value", "said"),
    [("ftp://host/videos", "ftp://"), ("s3://", "bucket"), ("gs:///x", "bucket")],
)
def test_a_video_store_reelhook_cannot_use_stops_the_start(value: str, said: str) -> None:
    with pytest.raises(SettingsError, match="REELHOOK_VIDEO_STORE") as refused:
        from_environ({**GOOD, "REELHOOK_VIDEO_STORE": value})
    assert said in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("REELHOOK_VIDEO_WAIT", "-1"), ("REELHOOK_VIDEO_MAX_BYTES", "many"),
     ("REELHOOK_VIDEO_KEEP_DAYS", "-3"), ("REELHOOK_VIDEO_LINK_LIFETIME", "0"),
     ("REELHOOK_VIDEO_LINK_LIFETIME", "400000000")],
)
def test_video_settings_are_checked(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name) as refused:
        from_environ({**GOOD, name: value})
    assert "e+" not in str(refused.value)  # bounds as people write them


def test_short_video_links_small_caps_and_any_case_of_scheme_are_accepted() -> None:
    """A test (or a cautious operator) may want links that expire in seconds and a tiny cap."""
    videos = from_environ({**GOOD, "REELHOOK_VIDEO_LINK_LIFETIME": "2",
                           "REELHOOK_VIDEO_MAX_BYTES": "500",
                           "REELHOOK_VIDEO_STORE": "S3://bucket/videos"}).videos
    assert (videos.link_lifetime, videos.max_bytes) == (2.0, 500)
    assert videos.store == "s3://bucket/videos"
