"""Behind a real PgBouncer in transaction mode, as most managed platforms hand out: `migrate`
works every time, and with DIRECT_DATABASE_URL other processes' changes arrive at once through
LISTEN."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from store import open_store
from store.interface import TASKS
from tests.cli.test_cli_processes import spawn
from tests.cli.test_deploy_commands import finished
from tests.databases import fresh_postgres
from tests.helpers import skyreels, until, wait_for_status
from tests.pgbouncer import pgbouncer, through

SUBMITS = 20


@pytest.fixture
async def pooled() -> AsyncIterator[tuple[str, str]]:
    """(the pooled URL, the direct URL) of a fresh, unmigrated database."""
    async with fresh_postgres(migrate=False) as url, pgbouncer() as port:
        yield through(port, url), url


async def test_migrate_through_the_pooler_works_every_time(pooled: tuple[str, str]) -> None:
    url, _ = pooled
    for _ in range(3):
        code, out, err = await finished(await spawn("migrate", env={"DATABASE_URL": url}))
        assert code == 0, err
    assert "is up to date" in out


async def test_with_a_direct_url_other_processes_changes_arrive_through_listen(
    pooled: tuple[str, str],
) -> None:
    """... and its own commit is told once: the pooler makes up the server process ids it
    reports, so a store that knew its own commits by id heard them again through LISTEN."""
    url, direct_url = pooled
    code, _, err = await finished(await spawn("migrate", env={"DATABASE_URL": url,
                                                              "DIRECT_DATABASE_URL": direct_url}))
    assert code == 0, err
    listening = await open_store(url, direct=direct_url, migrate=False)
    other = await open_store(url, direct=direct_url, migrate=False)
    heard: list[str] = []
    listening.subscribe(TASKS, heard.append)
    try:
        from store import NewTask

        await listening.create_task(NewTask("tsk_" + "3" * 28, "piapi", "Qubico/skyreels", {}))
        await other.create_task(NewTask("tsk_" + "1" * 28, "piapi", "Qubico/skyreels", {}))
        await until(lambda: "tsk_" + "1" * 28 in heard, what="the change heard through LISTEN")
        await asyncio.sleep(0.2)  # its own NOTIFY came back before the other's, if at all
        assert heard.count("tsk_" + "3" * 28) == 1
    finally:
        await listening.close()
        await other.close()


async def test_serve_behind_the_pooler_answers_every_submit_and_sends_every_notice(
    pooled: tuple[str, str], start_app: Any, piapi_sim: Any, webhook_sink: Any
) -> None:
    url, direct_url = pooled
    code, _, err = await finished(await spawn("migrate", env={"DATABASE_URL": url}))
    assert code == 0, err
    client = await start_app(database=url, direct_database=direct_url)
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret}]
    answers = await asyncio.gather(*(
        client.post("/v1/tasks", json=skyreels(notify=notify)) for _ in range(SUBMITS)
    ))
    assert [answer.status for answer in answers] == [202] * SUBMITS  # never a 500
    tasks = [await answer.json() for answer in answers]
    for task in tasks:
        done = await wait_for_status(client, task["id"], timeout=30)
        assert done["status"] == "succeeded"
    await webhook_sink.wait_until(
        lambda: {item.body["data"]["id"] for item in webhook_sink.accepted}
        >= {task["id"] for task in tasks}, timeout=30)
    health = await client.get("/healthz")
    assert health.status == 200, await health.text()


IGNORING = ("ignore_startup_parameters = extra_float_digits,statement_timeout,lock_timeout,"
            "idle_in_transaction_session_timeout\n")


async def test_a_pooler_that_passes_session_settings_by_is_found_and_every_submit_answered(
    start_app: Any, piapi_sim: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    """A common PgBouncer setting: it ignores the session settings instead of refusing them,
    so the only sign of it is that a connection's sessions are not the server's own. Prepared
    statements would then fail on the next session they reach: every submit would be 500."""
    async with fresh_postgres(migrate=False) as direct, pgbouncer(IGNORING) as port:
        url = through(port, direct)
        code, _, err = await finished(await spawn("migrate", env={"DATABASE_URL": url}))
        assert code == 0, err
        client = await start_app(database=url)
        assert any("leads to a connection pooler" in r.getMessage() for r in caplog.records)
        answers = await asyncio.gather(*(
            client.post("/v1/tasks", json=skyreels(prompt=f"take {n}")) for n in range(SUBMITS)
        ))
        assert [answer.status for answer in answers] == [202] * SUBMITS
        for answer in answers:
            done = await wait_for_status(client, (await answer.json())["id"], timeout=30)
            assert done["status"] == "succeeded"
        assert len(piapi_sim.tasks) == SUBMITS

