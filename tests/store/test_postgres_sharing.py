"""Several processes on one PostgreSQL database: each store here has its own pool and its own
LISTEN connection, exactly as a separate `reelhook serve` or `reelhook worker` would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from store import (
    EventIn,
    NewDestination,
    NewTask,
    Observation,
    SchemaMismatch,
    TaskStore,
    open_store,
    schema_state,
)
from store.interface import DELIVERIES, TASKS
from store.migrations import MIGRATION_NAMES
from store.postgres.store import PostgresStore
from tests.databases import fresh_postgres
from tests.helpers import FAST_RETRIES, notice_sent_by_the_other_app

HOOK = NewDestination("webhook", "sealed-target", "hook", "route-1")
PROCESSES = 3


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_postgres() as url:
        yield url


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[list[TaskStore]]:
    opened = [await open_store(pg_url) for _ in range(PROCESSES)]
    yield opened
    for store in opened:
        await store.close()


def task(number: int, **fields: Any) -> NewTask:
    values: dict[str, Any] = {"id": f"tsk_{number:028d}", "provider": "wave",
                              "model": "skyreels-v4-fast", "request": {}, "destinations": (HOOK,)}
    return NewTask(**(values | fields))


async def test_an_idempotency_key_replayed_at_other_processes_returns_the_first_task(
    stores: list[TaskStore],
) -> None:
    attempts = [
        store.create_task(task(n, idempotency_key="same", request_fingerprint="f"))
        for n, store in enumerate(stores * 4)
    ]
    results = await asyncio.gather(*attempts)
    assert sum(created for _, created in results) == 1
    assert len({found["id"] for found, _ in results}) == 1
    assert len(await stores[0].list_tasks()) == 1


async def test_the_in_flight_cap_holds_across_processes(stores: list[TaskStore]) -> None:
    for number in range(30):
        await stores[0].create_task(task(number))
    claims = [
        stores[n % PROCESSES].submits.claim_slot(
            task(n).id, "wave", 5, owner=f"p{n % PROCESSES}", lease=60
        )
        for n in range(30)
    ]
    assert sum(await asyncio.gather(*claims)) == 5
    assert (await stores[1].stats.snapshot())["in_flight"] == [{"provider": "wave", "n": 5}]


async def test_skip_locked_claims_never_give_one_delivery_to_two_workers(
    stores: list[TaskStore],
) -> None:
    for number in range(60):
        await stores[0].create_task(task(number))
        await stores[0].record_event(task(number).id, EventIn("e", "cb", Observation("failed")))
    now = time.time() + 1
    ids = [row["delivery_id"] for row in await stores[0].outbox.due(now, now - 30, 100)]
    assert len(ids) == 60
    claimed = await asyncio.gather(*(
        stores[n % PROCESSES].outbox.claim(ids, f"worker-{n}", now, now - 30) for n in range(9)
    ))
    taken = [delivery for batch in claimed for delivery in batch]
    assert sorted(taken) == sorted(ids)  # every delivery once, none twice


async def test_due_polls_are_shared_without_overlap(stores: list[TaskStore]) -> None:
    for number in range(40):
        await stores[0].create_task(task(number))
        sent = EventIn("s", "submit", Observation("queued"), provider_task_id=f"w{number}")
        await stores[0].record_event(task(number).id, sent)
    now = time.time()
    batches = await asyncio.gather(*(
        stores[n].polls.claim_due(now, ["wave"], 15, f"poller-{n}", 30.0) for n in range(3)
    ))
    polled = [row["id"] for batch in batches for row in batch]
    assert len(polled) == len(set(polled)) == 40


async def test_a_change_in_one_process_reaches_the_others_listeners(
    pg_url: str, stores: list[TaskStore],
) -> None:
    heard: list[dict[str, Any]] = []
    watcher = await open_store(pg_url, on_other_change=heard.append)
    try:
        await _changes_reach_the_watcher(stores, watcher, heard)
    finally:
        await watcher.close()


async def _changes_reach_the_watcher(
    stores: list[TaskStore], watcher: TaskStore, heard: list[dict[str, Any]]
) -> None:
    await watcher.create_task(task(2))  # its own change: its task service tells its live view
    await stores[0].create_task(task(1))
    await stores[1].record_event(task(1).id, EventIn("e", "cb", Observation("running", 40)))
    deadline = time.monotonic() + 5
    while not any((t["id"], t["status"], t["progress"]) == (task(1).id, "running", 40)
                  for t in heard):
        assert time.monotonic() < deadline, heard
        await asyncio.sleep(0.01)
    assert task(2).id not in {t["id"] for t in heard}


async def test_a_process_hears_its_own_commits_at_once_and_once_even_without_listen(
    pg_url: str,
) -> None:
    """Its own commits reach its listeners when the write returns (a pooler without LISTEN
    never sends the NOTIFY back), and the NOTIFY that does come back is not told again."""
    deaf = await PostgresStore.open(pg_url, listen=False)
    listening = await open_store(pg_url)
    try:
        heard_deaf, heard = _listen(deaf), _listen(listening)
        await deaf.create_task(task(1))
        failed = EventIn("failed", "cb", Observation("failed", error="no"))
        await deaf.record_event(task(1).id, failed)  # a notice queued for HOOK
        assert {(TASKS, task(1).id), (DELIVERIES, "")} <= set(heard_deaf)
        await listening.create_task(task(2))
        await listening.record_event(task(2).id, failed)
        assert {(TASKS, task(2).id), (DELIVERIES, "")} <= set(heard)
        await deaf.create_task(task(3))
        # Notifications come in commit order: once the other's is here, its own came before.
        deadline = time.monotonic() + 5
        while (TASKS, task(3).id) not in heard:
            assert time.monotonic() < deadline, heard
            await asyncio.sleep(0.01)
        assert heard.count((TASKS, task(2).id)) == 2  # its own create and failure, once each
        assert heard.count((DELIVERIES, "")) == 2  # its own notice, and the other's
    finally:
        await deaf.close()
        await listening.close()


def _listen(store: TaskStore) -> list[tuple[str, str]]:
    heard: list[tuple[str, str]] = []
    for topic in (TASKS, DELIVERIES):
        store.subscribe(topic, lambda payload, topic=topic: heard.append((topic, payload)))
    return heard


async def test_a_notice_queued_by_one_web_process_is_sent_by_a_worker_in_another(
    pg_url: str, start_app: Any, settings: Any, piapi_sim: Any, webhook_sink: Any
) -> None:
    # The web process sends no notices; the worker process looks for due deliveries only every
    # 60 s on its own, so a notice that arrives well before then was started by NOTIFY.
    web = await start_app(database=pg_url, run_worker=False)
    worker = await start_app(
        database=pg_url, **FAST_RETRIES | {"dispatch_interval": 60.0}, port=0,
        public_url="http://127.0.0.1:9",
    )
    await notice_sent_by_the_other_app(web, worker, webhook_sink)


async def test_serve_refuses_a_database_behind_or_ahead(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("DELETE FROM reelhook_migrations WHERE name = $1", MIGRATION_NAMES[-1])
        behind = await schema_state(pg_url)
        assert behind.pending == (MIGRATION_NAMES[-1],)
        with pytest.raises(SchemaMismatch, match="run: reelhook migrate"):
            await open_store(pg_url, migrate=False)
        await conn.execute(
            "INSERT INTO reelhook_migrations (migration_set, name) VALUES ('reelhook', $1),"
            " ('reelhook', 'm999_from_the_future')", MIGRATION_NAMES[-1],
        )
        with pytest.raises(SchemaMismatch, match="ahead"):
            await open_store(pg_url, migrate=False)
    finally:
        await conn.close()




async def test_a_server_session_once_this_stores_is_heard_when_another_process_has_it(
    pg_url: str,
) -> None:
    """Server process ids are used again: once one of this store's connections has closed, the
    id can belong to another process's session. What another store sends from a session with
    one of this store's ids is still heard (here: a session of this store's own pool, sending
    with the other store's origin, as that other process would)."""
    listening = await open_store(pg_url)
    other = await open_store(pg_url)
    heard = _listen(listening)
    try:
        assert isinstance(listening, PostgresStore) and isinstance(other, PostgresStore)
        # One of its own pool's sessions stands for a session whose id another process now has.
        async with listening._pool.acquire() as conn:
            sent = f"{other.origin}/tsk_from_a_reused_session"
            await conn.execute("SELECT pg_notify('reelhook_tasks', $1)", sent)
        await listening.create_task(task(4))  # its own: told once, at its commit
        deadline = time.monotonic() + 5
        while (TASKS, "tsk_from_a_reused_session") not in heard:
            assert time.monotonic() < deadline, heard
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert heard.count((TASKS, task(4).id)) == 1
    finally:
        await listening.close()
        await other.close()
