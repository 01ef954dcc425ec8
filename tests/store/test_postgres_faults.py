"""PostgreSQL faults caused for real: bursts of pg_terminate_backend on reelhook's connections
(what failovers, pooler restarts and idle-session killers do) while callbacks arrive and notices
go out. Nothing stops: every notice is delivered once, every loop still runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from receiver import keys
from receiver.settings import ProviderSettings
from store import DatabaseTimeouts, NewTask, open_store
from store.errors import StoreUnavailable
from store.interface import TASKS
from store.postgres.writer import PgWriter
from tests.databases import admin_connection, fresh_postgres
from tests.helpers import FAST_RETRIES, piapi_callback, post_callback, skyreels, until
from tests.tcp_proxy import proxy_to

NOTICES = 30


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_postgres() as url:
        yield url


async def terminate_all(admin: asyncpg.Connection, database: str) -> int:
    """End every connection to `database` but the admin's own; how many were ended."""
    ended = await admin.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = $1 AND pid <> pg_backend_pid()", database,
    )
    return int(ended)


@contextlib.asynccontextmanager
async def storm(database: str, every: float = 0.1) -> AsyncIterator[list[int]]:
    """Terminate reelhook's connections every `every` seconds until the block ends."""
    admin = await admin_connection()
    ended: list[int] = []

    async def keep_terminating() -> None:
        while True:
            ended.append(await terminate_all(admin, database))
            await asyncio.sleep(every)

    job = asyncio.create_task(keep_terminating())
    try:
        yield ended
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await admin.close()


async def deliver_callback(client: Any, task: dict[str, Any], secret: str) -> list[int]:
    """POST the task's completion callback until it is acknowledged, as a provider retries;
    the statuses answered on the way."""
    body = piapi_callback(task, "completed", output={"video_url": "https://cdn.example.com/v.mp4"})
    statuses: list[int] = []
    while not statuses or statuses[-1] != 200:
        answer = await post_callback(client, f"/callbacks/piapi/{task['id']}", body, secret)
        statuses.append(answer.status)
        if answer.status != 200:
            await asyncio.sleep(0.05)
    return statuses


async def test_a_terminate_storm_loses_no_notice_doubles_none_and_stops_no_loop(
    start_app: Any, piapi_sim: Any, webhook_sink: Any, pg_url: str
) -> None:
    piapi_sim.script.drop_callbacks = True
    client = await start_app(database=pg_url, **FAST_RETRIES)
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret}]
    tasks = [await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json()
             for _ in range(NOTICES)]
    secrets = [sent["body"]["config"]["webhook_config"]["secret"] for sent in piapi_sim.received]
    database = pg_url.rsplit("/", 1)[1]
    async with storm(database) as ended:
        answered = await asyncio.gather(*(
            deliver_callback(client, task, secret)
            for task, secret in zip(tasks, secrets, strict=True)
        ))
        await asyncio.sleep(1.0)  # notices go out while connections keep being cut
    assert sum(ended) > 0
    # While the database is cut off a callback is told to come back later, never 500.
    assert {status for statuses in answered for status in statuses} <= {200, 503}
    await webhook_sink.wait_until(lambda: len(webhook_sink.accepted) >= NOTICES, timeout=30)
    await asyncio.sleep(0.5)  # a second copy of any notice would arrive by now
    sent = Counter(item.headers["webhook-id"] for item in webhook_sink.accepted)
    assert len(sent) == NOTICES and set(sent.values()) == {1}
    assert client.app[keys.LOOPS].down == {}
    assert (await client.get("/healthz")).status == 200


async def test_the_change_feed_reconnects_however_long_the_database_refuses(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reelhook.store")
    database = pg_url.rsplit("/", 1)[1]
    listening, other = await open_store(pg_url), await open_store(pg_url)
    heard: list[str] = []
    listening.subscribe(TASKS, heard.append)
    admin = await admin_connection()
    try:
        # The database refuses every new connection while the existing ones are cut: the
        # listener's reconnection fails again and again (well past its first few tries).
        await admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
        await terminate_all(admin, database)
        await asyncio.sleep(8)
        assert sum("still down after" in r.getMessage() for r in caplog.records) >= 3
        await admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
        # Both stores listen and log it; the listening one may be the second back.
        await until(lambda: sum("LISTEN connection to PostgreSQL is back" in r.getMessage()
                                for r in caplog.records) >= 2, timeout=40,
                    what="both listeners back")
        heard.clear()
        number = 7
        await other.create_task(NewTask(f"tsk_{number:028d}", "piapi", "Qubico/skyreels", {}))
        await until(lambda: f"tsk_{number:028d}" in heard, what="the other process's change")
    finally:
        await admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
        await admin.close()
        await listening.close()
        await other.close()


async def submitted(client: Any, piapi_sim: Any, count: int) -> list[tuple[dict[str, Any], str]]:
    """`count` PiAPI tasks submitted through the API, each with its callback secret."""
    made = []
    for _ in range(count):
        task = await (await client.post("/v1/tasks", json=skyreels())).json()
        made.append((task, piapi_sim.received[-1]["body"]["config"]["webhook_config"]["secret"]))
    return made


async def test_a_row_locked_by_another_session_delays_only_its_own_task(
    start_app: Any, piapi_sim: Any, pg_url: str
) -> None:
    piapi_sim.script.drop_callbacks = True
    client = await start_app(database=pg_url, db_timeouts=DatabaseTimeouts(lock=1.0))
    (locked, locked_secret), *others = await submitted(client, piapi_sim, 6)
    other_session = await asyncpg.connect(pg_url)
    try:
        async with other_session.transaction():
            await other_session.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE",
                                        locked["id"])
            body = piapi_callback(locked, "processing")
            stuck = asyncio.create_task(
                post_callback(client, f"/callbacks/piapi/{locked['id']}", body, locked_secret))
            answers = await asyncio.wait_for(asyncio.gather(*(
                post_callback(client, f"/callbacks/piapi/{task['id']}",
                              piapi_callback(task, "processing"), secret)
                for task, secret in others
            )), timeout=20)
            assert [answer.status for answer in answers] == [200] * len(others)
            refused = await asyncio.wait_for(stuck, timeout=20)
            assert refused.status == 503  # told to come back: the provider retries it
            assert refused.headers["Retry-After"]
    finally:
        await other_session.close()
    for task, _ in others:
        assert (await (await client.get(f"/v1/tasks/{task['id']}")).json())["status"] == "running"
    retried = await post_callback(client, f"/callbacks/piapi/{locked['id']}",
                                  piapi_callback(locked, "processing"), locked_secret)
    assert retried.status == 200


async def test_a_hung_database_gets_503_within_its_timeout_and_healthz_says_why(
    start_app: Any, piapi_sim: Any, pg_url: str
) -> None:
    piapi_sim.script.drop_callbacks = True
    async with proxy_to(pg_url) as proxy:
        timeouts = DatabaseTimeouts(statement=1.0, lock=0.5, idle_in_transaction=5.0)
        client = await start_app(database=proxy.url_for(pg_url), db_timeouts=timeouts)
        [(task, secret)] = await submitted(client, piapi_sim, 1)
        proxy.freeze()
        body = piapi_callback(task, "processing")
        answer = await asyncio.wait_for(
            post_callback(client, f"/callbacks/piapi/{task['id']}", body, secret), timeout=15)
        assert answer.status == 503 and answer.headers["Retry-After"]
        listing = await asyncio.wait_for(client.get("/v1/tasks"), timeout=15)
        assert listing.status == 503
        health = await asyncio.wait_for(client.get("/healthz"), timeout=15)
        assert health.status == 503
        assert "the database does not answer" in (await health.json())["error"]
        proxy.thaw()
        proxy.cut()  # connections left mid-statement are dropped, as a restarted server would

        async def healthy() -> bool:
            return (await client.get("/healthz")).status == 200

        await until(healthy, timeout=20, what="/healthz back to 200")
        retried = await post_callback(client, f"/callbacks/piapi/{task['id']}", body, secret)
        assert retried.status == 200


async def test_the_store_writes_again_once_a_long_storm_ends(pg_url: str) -> None:
    """Twelve seconds of terminations under steady writes: asyncpg before 0.32 left every pooled
    connection held by a release that never finished, so each later write timed out for good."""
    store = await open_store(pg_url, pool_size=4)
    database = pg_url.rsplit("/", 1)[1]
    numbers = iter(range(1_000_000))
    loop = asyncio.get_running_loop()
    storm_ends = loop.time() + 12.0

    async def keep_writing() -> None:
        while loop.time() < storm_ends:
            number = next(numbers)
            with contextlib.suppress(StoreUnavailable):  # a write in the group commit
                await store.create_task(
                    NewTask(f"tsk_{number:028d}", "piapi", "Qubico/skyreels", {}))
            with contextlib.suppress(StoreUnavailable):  # a write in a transaction of its own
                await store.outbox.renew([number], "storm", time.time())
            await asyncio.sleep(0.01)

    try:
        async with storm(database, every=0.2) as ended:
            await asyncio.gather(*(keep_writing() for _ in range(6)))
        assert sum(ended) > 20
        written: list[str] = []

        async def write_once() -> bool:
            task_id = f"tsk_{next(numbers):028d}"
            with contextlib.suppress(StoreUnavailable):
                await store.outbox.renew([1], "storm", time.time())
                await store.create_task(NewTask(task_id, "piapi", "Qubico/skyreels", {}))
                written.append(task_id)
            return bool(written)

        # Each try is bounded by the 5 s statement timeout. A pooled connection the storm
        # ended may fail one try each (4 in the pool): a wedged pool fails them all.
        for _ in range(10):
            if await write_once():
                break
            await asyncio.sleep(0.1)
        assert written, "no write went through after the storm"
        assert (await store.get_task(written[0]))["id"] == written[0]
    finally:
        await asyncio.wait_for(store.close(), 30)


async def test_writes_committed_alone_after_a_deadlock_keep_their_answer(pg_url: str) -> None:
    """A batch that meets a deadlock is retried write by write; when a later write's retry
    loses its connection, the writes already committed alone are answered as committed (a
    client told otherwise would send a task again)."""
    setup = await asyncpg.connect(pg_url)
    await setup.execute("CREATE TABLE scratch (id INT PRIMARY KEY, v INT NOT NULL)")
    await setup.execute("INSERT INTO scratch VALUES (1, 0), (2, 0)")
    await setup.close()
    pool = await asyncpg.create_pool(pg_url, min_size=1, max_size=2)
    writer = PgWriter(pool)
    writer.start()
    other = await asyncpg.connect(pg_url)
    runs = Counter[str]()
    try:
        await other.execute("SET deadlock_timeout = '30s'")  # the writer's session detects it
        holding = other.transaction()
        await holding.start()
        await other.execute("UPDATE scratch SET v = v WHERE id = 2")

        async def first(conn: asyncpg.Connection) -> str:
            runs["first"] += 1
            await conn.execute("UPDATE scratch SET v = v + 1 WHERE id = 1")
            return "committed"

        async def second(conn: asyncpg.Connection) -> str:
            runs["second"] += 1
            if runs["second"] == 1:  # waits for row 2, held by the other session
                await conn.execute("UPDATE scratch SET v = v + 1 WHERE id = 2")
                return "unexpected"
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            return "unreachable"

        answers = asyncio.gather(writer.run(first), writer.run(second), return_exceptions=True)
        await until(lambda: runs["second"] == 1, what="the batch waiting for row 2")
        await asyncio.sleep(0.2)  # its UPDATE is waiting on the lock now
        await other.execute("UPDATE scratch SET v = v WHERE id = 1")  # the deadlock
        await holding.rollback()
        done, lost = await asyncio.wait_for(answers, 30)
        assert done == "committed"  # committed alone: not reported as refused
        assert isinstance(lost, StoreUnavailable)
        assert await other.fetchval("SELECT v FROM scratch WHERE id = 1") == 1
        assert runs == {"first": 2, "second": 2}
    finally:
        await other.close()
        await writer.stop()
        await pool.close()


async def test_a_submit_sent_while_the_database_hangs_answers_with_its_task(
    start_app: Any, settings: Any, pg_url: str
) -> None:
    """The task is recorded and sent; the database stops answering as the provider answers.
    The client gets its task (202), not an error inviting a second, paid submit; the provider's
    answer is stored once the database is back."""
    async with proxy_to(pg_url) as proxy:
        sent: list[Any] = []

        async def create_task(request: web.Request) -> web.Response:
            sent.append(await request.json())
            proxy.freeze()
            return web.json_response({"code": 200, "message": "success",
                                      "data": {"task_id": "pi-123", "status": "pending"}})

        fake = web.Application()
        fake.router.add_post("/api/v1/task", create_task)
        server = TestServer(fake, host="127.0.0.1")
        await server.start_server()
        try:
            piapi = ProviderSettings(settings.providers["piapi"].api_key,
                                     str(server.make_url("")).rstrip("/"))
            timeouts = DatabaseTimeouts(statement=1.0, lock=0.5, idle_in_transaction=5.0)
            client = await start_app(database=proxy.url_for(pg_url), db_timeouts=timeouts,
                                     providers={**settings.providers, "piapi": piapi})
            answer = await asyncio.wait_for(client.post("/v1/tasks", json=skyreels()), 30)
            assert answer.status == 202, await answer.text()
            task = await answer.json()
            assert task["status"] == "queued" and len(sent) == 1
            proxy.thaw()
            proxy.cut()

            async def answer_stored() -> bool:
                seen = await client.get(f"/v1/tasks/{task['id']}")
                return seen.status == 200 and (await seen.json())["provider_task_id"] == "pi-123"

            await until(answer_stored, timeout=20, what="the provider's answer stored")
            assert len(sent) == 1
        finally:
            await server.close()


async def test_a_read_only_database_is_called_read_only_not_busy(
    start_app: Any, piapi_sim: Any, pg_url: str
) -> None:
    """A standby, or default_transaction_read_only on: writes are refused as read-only (503,
    the message says so, nothing recorded) and /healthz says why, until it takes writes again."""
    client = await start_app(database=pg_url)
    name = urlsplit(pg_url).path.lstrip("/")
    admin = await admin_connection()
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        await terminate_all(admin, name)
        refused: list[dict[str, Any]] = []

        async def refused_as_read_only() -> bool:
            answer = await client.post("/v1/tasks", json=skyreels())
            assert answer.status == 503, await answer.text()
            refused.append((await answer.json())["error"])
            return "read-only" in refused[-1]["message"]

        await until(refused_as_read_only, timeout=20, what="a submit refused as read-only")
        assert "busy" not in refused[-1]["message"]
        health = await client.get("/healthz")
        assert health.status == 503 and "read-only" in (await health.json())["error"]
        assert (await (await client.get("/v1/tasks")).json())["tasks"] == []
        await admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await terminate_all(admin, name)

        async def takes_writes() -> bool:
            return (await client.post("/v1/tasks", json=skyreels())).status == 202

        await until(takes_writes, timeout=20, what="submits taken again")
    finally:
        await admin.close()
