"""Deploy-time commands as real processes: migrate, the version check of serve and worker,
tick (all due work once), WEB_CONCURRENCY web processes on one port, the DYNO warning."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.services.secrets import new_fernet_key
from store import schema_state
from store.migrations import MIGRATION_NAMES
from store.sqlite.schema import migrate
from tests.cli.test_cli_processes import read_until, spawn, stop
from tests.databases import fresh_postgres
from tests.helpers import API_TOKEN, apimart, port_for_child_process, wait_for_status
from tests.tcp_proxy import proxy_to


def base_env(database: str) -> dict[str, str]:
    key = "DATABASE_URL" if database.startswith("postgres") else "REELHOOK_DATABASE"
    return {key: database, "REELHOOK_API_TOKEN": API_TOKEN, "REELHOOK_SECRET_KEY": new_fernet_key(),
            "REELHOOK_HOST": "127.0.0.1", "PORT": str(port_for_child_process())}


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_migrate_brings_a_new_postgres_database_up_to_date_and_is_safe_twice() -> None:
    async with fresh_postgres(migrate=False) as url:
        code, out, _ = await finished(await spawn("migrate", env={"DATABASE_URL": url}))
        assert code == 0 and f"applied {len(MIGRATION_NAMES)} migration(s)" in out
        assert "password" not in out
        assert (await schema_state(url)).applied == MIGRATION_NAMES
        code, out, _ = await finished(await spawn("migrate", env={"DATABASE_URL": url}))
        assert code == 0 and "is up to date" in out


@pytest.mark.parametrize("where", ["no such directory", "a directory", "a newer reelhook's"])
async def test_migrate_that_cannot_says_why_in_one_line(tmp_path: Path, where: str) -> None:
    path = {"no such directory": tmp_path / "nodir" / "r.db", "a directory": tmp_path,
            "a newer reelhook's": tmp_path / "new.db"}[where]
    if where == "a newer reelhook's":
        migrate(str(path))
        with sqlite3.connect(path) as conn:
            conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
                         " VALUES ('reelhook', 'm999_from_the_future', '2030-01-01')")
    code, out, err = await finished(await spawn("migrate", env={"REELHOOK_DATABASE": str(path)}))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("reelhook: "), err
    assert ("ahead of this reelhook" if where == "a newer reelhook's" else str(path)) in err


@pytest.mark.parametrize("command", ["serve", "worker"])
async def test_serve_and_worker_refuse_a_database_that_is_behind(command: str) -> None:
    async with fresh_postgres(migrate=False) as url:
        code, _, err = await finished(await spawn(command, env=base_env(url)))
        assert code == 2
        assert err.strip().splitlines() == [err.strip()]  # one line
        assert "run: reelhook migrate" in err


async def test_serve_refuses_a_sqlite_file_that_is_behind(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    migrate(path, stop_before=MIGRATION_NAMES[-1])
    code, _, err = await finished(await spawn("serve", env=base_env(path)))
    assert code == 2 and "run: reelhook migrate" in err


async def test_a_sqlite_file_on_a_wiped_disk_is_warned_about(tmp_path: Path) -> None:
    env = base_env(str(tmp_path / "r.db")) | {"DYNO": "web.1"}
    code, _, err = await finished(await spawn("tick", env=env))
    assert code == 0
    assert "DYNO is set" in err and "DATABASE_URL" in err
    env.pop("DYNO")
    _, _, quiet = await finished(await spawn("tick", env=env))
    assert "DYNO" not in quiet


async def test_tick_does_the_due_work_of_a_serve_without_background_work(
    database: str, start_app: Any, settings: Any, apimart_sim: Any, webhook_sink: Any
) -> None:
    # serve with REELHOOK_BACKGROUND=off: it records and sends the task, but nobody polls it
    # and nobody sends its notice until a scheduler runs `reelhook tick`.
    client = await start_app(database=database, background=False)
    body = apimart(notify=[{"channel": "webhook", "url": webhook_sink.url,
                            "secret": webhook_sink.secret}])
    task = (await (await client.post("/v1/tasks", json=body)).json())
    env = base_env(database) | {
        "APIMART_BASE_URL": apimart_sim.base_url, "APIMART_API_KEY": apimart_sim.api_key,
        "REELHOOK_SECRET_KEY": settings.secret_key.decode(), "REELHOOK_POLL_INITIAL": "0.01",
        "REELHOOK_ALLOW_PRIVATE_URLS": "on",
    }
    ticks = 0
    while not webhook_sink.accepted:
        assert ticks < 10, "ten ticks and still no notice"
        code, out, err = await finished(await spawn("tick", env=env))
        assert code == 0, err
        ticks += 1
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    assert len(webhook_sink.accepted) == 1
    code, out, _ = await finished(await spawn("tick", env=env))  # nothing left to do
    assert code == 0 and "notices due: 0" in out
    assert len(webhook_sink.accepted) == 1


async def test_web_concurrency_runs_that_many_web_processes_on_one_port() -> None:
    async with fresh_postgres() as url:
        env = base_env(url) | {"WEB_CONCURRENCY": "3"}
        process = await spawn("serve", env=env)
        assert process.stdout is not None
        await read_until(process.stdout, "callback base URL")
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        assert len(children.read_text().split()) == 3
        async with httpx.AsyncClient() as http:
            answers = await asyncio.gather(*(
                http.get(f"http://127.0.0.1:{env['PORT']}/healthz") for _ in range(30)
            ))
        assert {answer.status_code for answer in answers} == {200}
        code, _ = await stop(process)
        assert code == 0
        assert not children.exists() or children.read_text().split() == []


async def test_tick_on_a_hung_database_ends_in_one_line() -> None:
    async with fresh_postgres() as url, proxy_to(url) as proxy:
        proxy.freeze()  # the server takes connections and never answers
        env = {**base_env(proxy.url_for(url)), "REELHOOK_DB_TIMEOUT": "1"}
        code, out, err = await finished(await spawn("tick", env=env))
        assert code == 2 and out == ""
        assert err.startswith("reelhook: ") and len(err.strip().splitlines()) == 1, err
        assert "did not answer within" in err, err


@pytest.mark.parametrize("command", ["serve", "worker"])
async def test_serve_and_worker_wait_out_a_database_that_is_briefly_away(command: str) -> None:
    # A deploy that starts while PostgreSQL restarts, or while an operator ends connections.
    async with fresh_postgres() as url, proxy_to(url) as proxy:
        proxy.refuse()
        process = await spawn(command, env=base_env(proxy.url_for(url)))
        assert process.stderr is not None
        waited = await read_until(process.stderr, "trying again")
        proxy.accept()
        if command == "serve":
            assert process.stdout is not None
            await read_until(process.stdout, "callback base URL")
        else:
            waited += await read_until(process.stderr, " started")
        code, rest = await stop(process)
    assert code == 0, rest
    assert "the database failed during the start" in "\n".join(waited)
    assert "password" not in "\n".join(waited) + rest


async def test_a_database_that_stays_away_still_ends_the_start_in_one_line() -> None:
    async with fresh_postgres() as url, proxy_to(url) as proxy:
        proxy.refuse()
        code, out, err = await finished(await spawn("worker", env=base_env(proxy.url_for(url))))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[-1].startswith("reelhook: cannot open the database"), err
    assert any("trying again" in line for line in lines[:-1]), err


async def test_a_database_that_is_not_there_ends_the_start_at_once() -> None:
    # A setting keeps it away, not a moment: no waiting, one line.
    async with fresh_postgres() as url:
        missing = url.rsplit("/", 1)[0] + "/reelhook_no_such_database"
        code, out, err = await finished(await spawn("worker", env=base_env(missing)))
    assert code == 2 and out == ""
    assert err.startswith("reelhook: cannot open the database") and "trying again" not in err, err
