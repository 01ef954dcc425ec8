"""`reelhook submit`, `tasks` and `show` against a running server, through its client API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from receiver.cli.commands import main
from tests.helpers import API_TOKEN, IMAGE_URL, wait_for_status


def point_at(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client commands' settings for the running app."""
    monkeypatch.setenv("REELHOOK_URL", str(client.make_url("")).rstrip("/"))
    monkeypatch.setenv("REELHOOK_API_TOKEN", API_TOKEN)


async def test_submit_tasks_and_show(
    client: Any, piapi_sim: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    point_at(client, monkeypatch)
    argv = ["submit", "--provider", "piapi", "--model", "Qubico/skyreels", "--prompt", "a smile",
            "--image", IMAGE_URL, "--guidance-scale", "4", "--metadata", '{"order": 9}',
            "--idempotency-key", "cli-1"]
    assert await asyncio.to_thread(main, argv) == 0
    task = json.loads(capsys.readouterr().out)
    assert (task["provider"], task["metadata"]) == ("piapi", {"order": 9})
    assert piapi_sim.received[0]["body"]["input"]["guidance_scale"] == 4
    await wait_for_status(client, task["id"])

    assert await asyncio.to_thread(main, ["tasks", "--provider", "piapi"]) == 0
    listing = capsys.readouterr().out
    assert task["id"] in listing and "succeeded" in listing and "$0.15" in listing

    assert await asyncio.to_thread(main, ["show", task["id"]]) == 0
    shown = json.loads(capsys.readouterr().out)  # one JSON document: the task, its events
    assert shown["id"] == task["id"] and shown["status"] == "succeeded"
    assert {"callback"} <= {e["source"] for e in shown["events"]}
    assert "completed" in {e["provider_status"] for e in shown["events"]}


async def test_commands_say_what_went_wrong(
    client: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(client, monkeypatch)
    argv = ["submit", "--provider", "piapi", "--model", "Qubico/skyreels", "--prompt", "x"]
    assert await asyncio.to_thread(main, argv) == 1
    assert "422: image is required" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["show", "tsk_missing"]) == 1
    assert "404" in capsys.readouterr().err
    monkeypatch.setenv("REELHOOK_API_TOKEN", "wrong-token-0123456789")
    assert await asyncio.to_thread(main, ["tasks"]) == 1
    assert "401" in capsys.readouterr().err


def test_keygen_prints_a_key_that_serve_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    from receiver.settings import from_environ

    assert main(["keygen"]) == 0
    key = capsys.readouterr().out.strip()
    settings = from_environ({"REELHOOK_API_TOKEN": API_TOKEN, "REELHOOK_SECRET_KEY": key})
    assert settings.secret_key == key.encode()
    assert main(["keygen"]) == 0
    assert capsys.readouterr().out.strip() != key


async def test_destinations_are_added_paused_tested_and_deleted_by_name(
    webhook_sink: Any, client: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    point_at(client, monkeypatch)
    add = ["destinations", "add", "night shift", "--url", webhook_sink.url, "--on", "failed",
           "--metadata", '{"team": "b"}']
    assert await asyncio.to_thread(main, add) == 0
    added = capsys.readouterr().out
    assert "night shift" in added and "signing secret (shown once): whsec_" in added
    webhook_sink.secret = added.rsplit(": ", 1)[1].strip()
    assert await asyncio.to_thread(main, ["destinations", "pause", "night shift"]) == 0
    assert "paused" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["destinations", "resume", "night shift"]) == 0
    assert await asyncio.to_thread(main, ["destinations"]) == 0
    listing = capsys.readouterr().out.splitlines()[-1]
    assert "night shift" in listing and "failed" in listing and "active" in listing
    assert await asyncio.to_thread(main, ["destinations", "test", "night shift"]) == 0
    assert "test notice to night shift: delivered" in capsys.readouterr().out
    assert webhook_sink.accepted[0].verified is True
    assert await asyncio.to_thread(main, ["destinations", "delete", "night shift"]) == 0
    assert await asyncio.to_thread(main, ["destinations", "test", "night shift"]) == 1
    assert "no destination named 'night shift'" in capsys.readouterr().err
