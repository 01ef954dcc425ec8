"""REELHOOK_SECRET_KEY: a start with a key that cannot open the database's sealed values is
refused in one line, keys rotate (the new key first, the old after it, then `reelhook
rotate-key`), and a restored database that cannot be read is never given a new kept key."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dispatcher.links import VideoLinks
from receiver.errors import SettingsError, StartupError
from receiver.runtime.dispatching import run_worker
from receiver.runtime.local_key import local_key
from receiver.sandbox.sinks import WebhookSink
from receiver.services.secrets import new_fernet_key
from receiver.settings import from_environ
from store import is_postgres
from tests.helpers import API_TOKEN, piapi_callback, skyreels, wait_for_status

OLD, NEW = new_fernet_key(), new_fernet_key()
DONE = {"video_url": "https://cdn.example/old-key.mp4"}


async def test_keys_rotate_and_a_wrong_key_never_starts(
    start_app: Any, database: str, piapi_sim: Any, webhook_sink: WebhookSink
) -> None:
    piapi_sim.script.drop_callbacks = True  # the callback is sent below, under the new key
    piapi_sim.script.step_delay = 3600.0
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret}]
    client = await start_app(database=database, secret_key=OLD.encode())
    task = await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json()
    secret = piapi_sim.received[-1]["body"]["config"]["webhook_config"]["secret"]
    await client.close()

    with pytest.raises(StartupError, match="cannot open this database's sealed values"):
        await start_app(database=database, secret_key=NEW.encode())

    # The new key first, the old after it: what the old key made still opens and checks.
    client = await start_app(
        database=database, secret_key=NEW.encode(), older_secret_keys=(OLD.encode(),)
    )
    answer = await client.post(
        f"/callbacks/piapi/{task['id']}", data=piapi_callback(task, "completed", output=DONE),
        headers={"x-webhook-secret": secret, "content-type": "application/json"},
    )
    assert answer.status == 200
    await wait_for_status(client, task["id"], "succeeded")
    first = await webhook_sink.wait_for(1)
    assert first[0].verified and first[0].body["data"]["id"] == task["id"]

    code, out, err = await rotate(database, f"{NEW}, {OLD}")
    assert (code, err) == (0, "")
    assert "re-sealed 1 stored values" in out  # the webhook destination (its secret inside)
    await client.close()

    # The old key can go: the destination sealed under it was sealed again under the new one.
    client = await start_app(database=database, secret_key=NEW.encode())
    deliveries = await (await client.get(f"/v1/tasks/{task['id']}/deliveries")).json()
    delivery_id = deliveries["deliveries"][0]["id"]
    assert (await client.post(f"/v1/deliveries/{delivery_id}/redeliver")).status == 202
    again = await webhook_sink.wait_for(2)
    assert again[1].verified and again[1].body["data"]["id"] == task["id"]
    await client.close()
    with pytest.raises(StartupError, match="cannot open this database's sealed values"):
        await start_app(database=database, secret_key=OLD.encode())


async def test_the_worker_refuses_a_wrong_key_too(
    start_app: Any, database: str, settings: Any
) -> None:
    client = await start_app(database=database, secret_key=OLD.encode())
    await client.close()  # the first start with a key writes the check
    wrong = replace(settings, database=database, secret_key=NEW.encode())
    with pytest.raises(StartupError, match="cannot open this database's sealed values"):
        await asyncio.wait_for(run_worker(wrong), 30)


async def test_rotate_key_needs_the_new_key_and_the_old_one(tmp_path: Path) -> None:
    code, out, err = await rotate(str(tmp_path / "r.db"), NEW)
    assert code == 2 and out == ""
    assert "lists one key: list the new key first and the old one after it" in err


def test_a_key_list_is_read_in_order_and_checked_key_by_key() -> None:
    env = {"REELHOOK_API_TOKEN": API_TOKEN, "REELHOOK_SECRET_KEY": f"{NEW},{OLD}"}
    settings = from_environ(env)
    assert (settings.secret_key, settings.older_secret_keys) == (NEW.encode(), (OLD.encode(),))
    shown = repr(settings)
    assert NEW not in shown and OLD not in shown and API_TOKEN not in shown
    with pytest.raises(SettingsError, match=r"^key 2 of 2 in REELHOOK_SECRET_KEY is not a Fern"):
        from_environ({**env, "REELHOOK_SECRET_KEY": f"{NEW},nope"})
    with pytest.raises(SettingsError, match="lists one key twice"):
        from_environ({**env, "REELHOOK_SECRET_KEY": f"{NEW},{NEW}"})


def test_video_links_signed_under_the_old_key_open_during_a_rotation() -> None:
    old = VideoLinks(OLD.encode(), "https://r.example", 3600.0)
    link = old.url("tsk_1", now=1000.0)
    expires, sig = (part.split("=")[1] for part in link.split("?")[1].split("&"))
    rotating = VideoLinks(NEW.encode(), "https://r.example", 3600.0, (OLD.encode(),))
    assert rotating.check("tsk_1", expires, sig, now=1001.0) is None
    after = VideoLinks(NEW.encode(), "https://r.example", 3600.0)
    assert after.check("tsk_1", expires, sig, now=1001.0) == "the link's signature does not match"


def test_a_database_that_cannot_be_read_is_never_given_a_new_key(tmp_path: Path) -> None:
    restored = tmp_path / "restored.db"
    with sqlite3.connect(restored) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO tasks VALUES ('tsk_1')")
    holder = sqlite3.connect(restored, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a restore still writing it: nobody else can read it
    try:
        with pytest.raises(SettingsError, match=r"cannot tell whether .*restored\.db holds tasks"):
            local_key(str(restored))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(SettingsError, match="cannot tell whether"):
        local_key(str(garbage))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.db", "restored.db"]


async def rotate(database: str, keys: str) -> tuple[int, str, str]:
    """Run `reelhook rotate-key` on `database` with REELHOOK_SECRET_KEY=`keys`."""
    where = {"DATABASE_URL": database} if is_postgres(database) else {"REELHOOK_DATABASE": database}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "receiver", "rotate-key",
        env={"PATH": "/usr/bin:/bin", "REELHOOK_SECRET_KEY": keys, **where},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
