"""Without REELHOOK_SECRET_KEY, a SQLite reelhook keeps its own key beside the database file:
made once (owner-only), the same on every start, refused where destinations are configured or
on PostgreSQL; and a real serve started with only a token works across a restart."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path
from typing import Any

import pytest

from receiver.errors import SettingsError
from receiver.runtime.local_key import local_key
from receiver.settings import from_environ
from store import NewTask, SqliteStore
from tests.helpers import API_TOKEN, ServedReelhook, piapi_callback, skyreels

TOKEN_ONLY = {"REELHOOK_API_TOKEN": API_TOKEN}


def test_the_key_is_made_once_for_its_owner_and_read_back(tmp_path: Path) -> None:
    database = str(tmp_path / "r.db")
    first = local_key(database)
    assert local_key(database) == first
    mode = stat.S_IMODE(os.stat(f"{database}.key").st_mode)
    assert mode == 0o600
    assert local_key(str(tmp_path / "other.db")) != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db.key", "r.db.key"]


def test_a_damaged_or_unwritable_key_place_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.db.key").write_text("not a key\n")
    (tmp_path / "bad.db.key").chmod(0o600)
    with pytest.raises(SettingsError, match="does not hold a Fernet key"):
        local_key(str(tmp_path / "bad.db"))
    with pytest.raises(SettingsError, match=r"no key can be kept at .*nodir"):
        local_key(str(tmp_path / "nodir" / "r.db"))


def test_a_key_file_others_could_read_or_plant_is_refused(tmp_path: Path) -> None:
    database = str(tmp_path / "r.db")
    local_key(database)
    os.chmod(f"{database}.key", 0o644)
    with pytest.raises(SettingsError, match="open to other users"):
        local_key(database)
    os.chmod(f"{database}.key", 0o600)
    (tmp_path / "planted.db.key").symlink_to(f"{database}.key")
    with pytest.raises(SettingsError, match="cannot read the key"):
        local_key(str(tmp_path / "planted.db"))


async def test_a_database_with_tasks_and_no_key_file_is_never_given_a_new_key(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "r.db")
    store = await SqliteStore.open(database)
    await store.create_task(NewTask("tsk_" + "2" * 28, "piapi", "Qubico/skyreels", {}))
    await store.close()
    with pytest.raises(SettingsError, match=r"r\.db\.key is missing, but .* holds tasks"):
        local_key(database)
    assert not os.path.exists(f"{database}.key")


def test_settings_take_the_kept_key_only_where_that_is_safe(tmp_path: Path) -> None:
    database = str(tmp_path / "r.db")
    env = {**TOKEN_ONLY, "REELHOOK_DATABASE": database}
    settings = from_environ(env, key_store=local_key)
    assert settings.secret_key == local_key(database)
    assert settings.secret_key_file == f"{database}.key"
    with pytest.raises(SettingsError, match="REELHOOK_SECRET_KEY is required"):
        from_environ(env)  # no store to keep one in: as before
    slack = {**env, "REELHOOK_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"}
    with pytest.raises(SettingsError, match="required with REELHOOK_SLACK_WEBHOOK_URL"):
        from_environ(slack, key_store=local_key)
    postgres = {**TOKEN_ONLY, "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test"}
    with pytest.raises(SettingsError, match="REELHOOK_SECRET_KEY is required"):
        from_environ(postgres, key_store=local_key)


async def test_serve_with_only_a_token_keeps_its_key_across_a_restart(
    tmp_path: Path, piapi_sim: Any
) -> None:
    piapi_sim.script.drop_callbacks = True  # the callback is ours to send, after a restart
    piapi_sim.script.step_delay = 3600.0  # and polls see the task pending meanwhile
    database = str(tmp_path / "serve.db")
    served = ServedReelhook({**TOKEN_ONLY, "REELHOOK_DATABASE": database,
                             "PIAPI_BASE_URL": piapi_sim.base_url,
                             "PIAPI_API_KEY": piapi_sim.api_key})
    await served.start()
    async with served.client() as http:
        task = (await http.post("/v1/tasks", json=skyreels())).json()
    await served.signal(signal.SIGTERM)
    assert "REELHOOK_SECRET_KEY is unset" in served.stderr and f"{database}.key" in served.stderr

    await served.start()  # the same key: the callback secret handed out before still holds
    try:
        secret = piapi_sim.received[-1]["body"]["config"]["webhook_config"]["secret"]
        done = piapi_callback(task, "completed", output={"video_url": "https://cdn.example/v.mp4"})
        async with served.client() as http:
            answer = await http.post(f"/callbacks/piapi/{task['id']}", content=done,
                                     headers={"x-webhook-secret": secret,
                                              "content-type": "application/json"})
            assert answer.status_code == 200
            assert (await http.get(f"/v1/tasks/{task['id']}")).json()["status"] == "succeeded"
    finally:
        await served.signal(signal.SIGTERM)
