"""The command line explains itself: descriptions and settings in --help, clear token errors,
and the new commands (cancel, costs, inbound, submit --wait) against the real app."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from receiver.cli.commands import build_parser, main
from receiver.providers import DEFAULT_MAX_IN_FLIGHT
from tests.helpers import (
    API_TOKEN,
    FAST_RETRIES,
    IMAGE_URL,
    WEBHOOK_SECRET,
    StartApp,
    skyreels,
    wait_delivered,
    wait_for_status,
)


def commands() -> list[str]:
    action = next(a for a in build_parser()._actions if a.dest == "command")
    assert action.choices is not None
    return sorted(action.choices)


@pytest.mark.parametrize("name", commands())
def test_every_command_help_has_a_description_and_names_its_settings(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    description = text.split("\n\n")[1]
    assert len(description.split()) >= 4, text
    settings = next(line for line in text.splitlines() if line.startswith("Settings: "))
    client_side = name in ("submit", "tasks", "show", "cancel", "costs", "inbound",
                           "deliveries", "redeliver", "videos", "destinations")
    assert ("REELHOOK_API_TOKEN" in settings) == (client_side or name == "serve"), text
    if client_side:
        assert "REELHOOK_URL" in settings


def test_the_top_level_help_lists_every_command_with_what_it_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    listed = text.split("positional arguments:")[1].split("options:")[0]
    for name in commands():
        described = re.search(rf"^\s+{name}\s+(\S.*)?$\n?(\s+\S.*)?", listed, re.MULTILINE)
        assert described is not None and len(described.group(0).split()) >= 3, name
    assert "os.environ" not in text  # the module's docstring is for developers, not users


def use_server(client: Any, monkeypatch: pytest.MonkeyPatch, token: str = API_TOKEN) -> None:
    monkeypatch.setenv("REELHOOK_URL", str(client.make_url("")).rstrip("/"))
    monkeypatch.setenv("REELHOOK_API_TOKEN", token)


async def run(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


async def test_an_unset_or_wrong_token_says_so_not_cannot_reach(
    client: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(client, monkeypatch)
    monkeypatch.delenv("REELHOOK_API_TOKEN")
    assert await run(["tasks"]) == 1
    assert "REELHOOK_API_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("REELHOOK_API_TOKEN", "wrong-token-0123456789")
    assert await run(["costs"]) == 1
    err = capsys.readouterr().err
    assert "refused REELHOOK_API_TOKEN (401)" in err and "cannot reach" not in err
    monkeypatch.setenv("REELHOOK_API_TOKEN", API_TOKEN)
    monkeypatch.setenv("REELHOOK_URL", "http://127.0.0.1:9")
    assert await run(["tasks"]) == 1
    assert "cannot reach reelhook at http://127.0.0.1:9" in capsys.readouterr().err


async def test_submit_wait_follows_the_task_and_prints_the_video_url(
    client: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_server(client, monkeypatch)
    argv = ["submit", "--provider", "piapi", "--model", "Qubico/skyreels", "--prompt", "a smile",
            "--image", IMAGE_URL, "--wait", "--interval", "0.05"]
    assert await run(argv) == 0
    out, err = capsys.readouterr()
    assert out.strip().startswith("http") and out.strip().endswith(".mp4")
    lines = [line for line in err.splitlines() if line.startswith("[")]
    assert lines[-1] == f"[{'#' * 24}] 100%  succeeded"
    assert len(lines) >= 2  # it was drawn before the end too

    failing = [*argv[:5], "--prompt", "[fail] melts", *argv[7:]]
    assert await run(failing) == 1
    err = capsys.readouterr().err
    assert " failed: " in err and "could not be animated" in err
    tasks = (await (await client.get("/v1/tasks?status=failed")).json())["tasks"]
    assert len(tasks) == 1


async def test_cancel_costs_and_their_refusals(
    start_app: StartApp, piapi_sim: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await start_app(max_in_flight={**DEFAULT_MAX_IN_FLIGHT, "piapi": 1})
    use_server(client, monkeypatch)
    first = await (await client.post("/v1/tasks", json=skyreels())).json()
    await wait_for_status(client, first["id"])
    piapi_sim.script.drop_callbacks = True  # the next one stays at the provider, in its slot
    await client.post("/v1/tasks", json=skyreels(prompt="slow"))
    held = await (await client.post("/v1/tasks", json=skyreels(prompt="held"))).json()
    assert held["status"] == "queued" and held["provider_task_id"] is None
    assert await run(["cancel", held["id"]]) == 0
    assert capsys.readouterr().out.strip() == f"{held['id']} is cancelled"

    assert await run(["costs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["PROVIDER", "TASKS", "PRICED", "COST"]
    # the held task was cancelled before it was sent: the provider never accepted it, no cost
    assert any(line.split()[:2] == ["piapi", "2"] for line in out), out
    assert out[-1].split()[0] == "total"
    assert await run(["costs", "--status", "succeeded"]) == 0
    assert "$0.15" in capsys.readouterr().out
    assert await run(["cancel", first["id"]]) == 1
    assert "409: task is already succeeded" in capsys.readouterr().err


async def test_inbound_lists_messages_in_the_cli_and_the_api(
    start_app: StartApp, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await start_app(inbound_secrets={"farm": (WEBHOOK_SECRET,), "ci": (WEBHOOK_SECRET,)})
    use_server(client, monkeypatch)
    for source, msg_id, body in (("farm", "msg_1", {"frames": 1}), ("ci", "msg_2", {"ok": True}),
                                 ("farm", "msg_3", {"frames": 3})):
        raw = json.dumps(body)
        now = datetime.fromtimestamp(int(time.time()), UTC)
        answer = await client.post(f"/callbacks/standard/{source}", data=raw, headers={
            "webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(WEBHOOK_SECRET).sign(msg_id, now, raw),
            "content-type": "application/json"})
        assert answer.status == 200

    page = await (await client.get("/v1/inbound?limit=2")).json()
    assert [m["webhook_id"] for m in page["messages"]] == ["msg_3", "msg_2"]
    rest = await (await client.get(f"/v1/inbound?cursor={page['next_cursor']}")).json()
    assert [m["webhook_id"] for m in rest["messages"]] == ["msg_1"] and rest["next_cursor"] is None
    farm = await (await client.get("/v1/inbound?source=farm")).json()
    assert [m["payload"] for m in farm["messages"]] == [{"frames": 3}, {"frames": 1}]
    for query, field in (("source=Bad!", "source"), ("limit=0", "limit"), ("cursor=x", "cursor")):
        refused = await client.get(f"/v1/inbound?{query}")
        assert refused.status == 422
        assert (await refused.json())["error"]["field"] == field

    assert await run(["inbound", "--source", "farm"]) == 0
    out = capsys.readouterr().out
    assert "msg_1" in out and "msg_3" in out and "msg_2" not in out and '{"frames": 3}' in out
    assert await run(["inbound", "--json", "--limit", "1"]) == 0
    assert [m["webhook_id"] for m in json.loads(capsys.readouterr().out)] == ["msg_3"]


async def test_deliveries_of_one_task_keep_status_and_limit(
    start_app: StartApp, webhook_sink: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await start_app(notify_on=frozenset({"queued", "succeeded"}), **FAST_RETRIES)
    use_server(client, monkeypatch)
    body = skyreels(notify=[{"channel": "webhook", "url": webhook_sink.url,
                             "secret": webhook_sink.secret}])
    task = await (await client.post("/v1/tasks", json=body)).json()
    assert len(await wait_delivered(client, task["id"], 2)) == 2

    def rows(out: str) -> list[list[str]]:
        return [line.split() for line in out.splitlines()[1:] if line.strip()]

    assert await run(["deliveries", "--task", task["id"]]) == 0
    assert len(rows(capsys.readouterr().out)) == 2
    assert await run(["deliveries", "--task", task["id"], "--limit", "1"]) == 0
    assert len(rows(capsys.readouterr().out)) == 1
    assert await run(["deliveries", "--task", task["id"], "--status", "dead"]) == 0
    assert rows(capsys.readouterr().out) == []
    assert await run(["deliveries", "--task", task["id"], "--status", "delivered"]) == 0
    assert [row[4] for row in rows(capsys.readouterr().out)] == ["delivered", "delivered"]
