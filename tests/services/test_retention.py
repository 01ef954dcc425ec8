"""Retention on both databases: events, delivery attempts and inbound messages older than
REELHOOK_KEEP_DAYS go, in batches, by `reelhook prune` (`--dry-run` only counts) and by `tick`;
tasks, their final state and their deliveries stay; SQLite gives the space back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from typing import Any

import pytest

from receiver.services.retention import count_old, prune
from receiver.services.secrets import SecretBox, new_fernet_key
from store import EventIn, NewDestination, NewTask, Observation, TaskStore, is_postgres, open_store
from store.plans.outbox import AttemptRecord
from tests.cli.test_cli_processes import spawn
from tests.cli.test_deploy_commands import finished

SECOND = 1 / 86400  # REELHOOK_KEEP_DAYS of one second
HOOK = NewDestination("webhook", "sealed", "hook", "route-1")
PAYLOAD = json.dumps({"data": "x" * 8000})  # as the Standard Webhooks route stores a body


async def old_and_new(
    store: TaskStore, old: int, hook: NewDestination = HOOK
) -> tuple[list[str], str]:
    """`old` failed tasks, each with events, an attempted notice and an inbound message; a
    second later one more task, whose rows are new. The ids."""
    ids = [f"tsk_{n:028d}" for n in range(old + 1)]
    for number, task_id in enumerate(ids):
        if number == old:
            await asyncio.sleep(1.5)  # what came before is now older than a second
        await store.create_task(NewTask(task_id, "wave", "skyreels-v4-fast", {},
                                        destinations=(hook,)))
        for step in range(3):
            running = Observation("running", progress=10 * step)
            await store.record_event(task_id, EventIn(f"p{step}:{PAYLOAD}", "callback", running))
        await store.record_event(task_id, EventIn("end", "callback",
                                                  Observation("failed", error="no credits")))
        await store.inbound.record("partner", f"msg-{number}", PAYLOAD)
        now = time.time()
        [due] = [d for d in await store.outbox.due(now + 1, now - 60, 1000)
                 if d["delivery_id"] not in await attempted(store)]
        await store.outbox.claim([due["delivery_id"]], "me", now, now - 60)
        await store.outbox.finish([AttemptRecord(due["delivery_id"], now, 5.0, "delivered", 204)],
                                  "me")
    return ids[:-1], ids[-1]


async def attempted(store: TaskStore) -> set[int]:
    return {d["id"] for d in await store.outbox.deliveries(limit=200) if d["attempts"]}


async def test_old_rows_go_in_batches_and_tasks_stay(database: str) -> None:
    store = await open_store(database)
    try:
        old, new = await old_and_new(store, 4)
        before = {task_id: len(await store.task_events(task_id)) for task_id in [*old, new]}
        counted = await count_old(store, SECOND)
        assert counted == {"events": sum(before[t] for t in old), "attempts": 4,
                           "inbound_messages": 4}
        deleted = await prune(store, SECOND, batch=3)  # several batches per table
        assert deleted == counted
        assert await count_old(store, SECOND) == {"events": 0, "attempts": 0,
                                                  "inbound_messages": 0}
        for task_id in old:
            assert (await store.get_task(task_id))["status"] == "failed"  # the task stays
            assert await store.task_events(task_id) == []
        assert len(await store.task_events(new)) == before[new]  # newer rows stay
        deliveries = await store.outbox.deliveries(limit=100)
        assert len(deliveries) == 5 and {d["status"] for d in deliveries} == {"delivered"}
        assert [m["webhook_id"] for m in await store.inbound.recent()] == ["msg-4"]
    finally:
        await store.close()


async def test_prune_dry_run_counts_then_prune_deletes_and_sqlite_gives_space_back(
    database: str,
) -> None:
    store = await open_store(database)
    try:
        await old_and_new(store, 30)
    finally:
        await store.close()
    await asyncio.sleep(1.5)  # the 31st task's rows are old too now: 124 events, 31 of each
    where = {"DATABASE_URL": database} if is_postgres(database) else {
        "REELHOOK_DATABASE": database}
    env = {**where, "REELHOOK_KEEP_DAYS": f"{SECOND:.8f}"}
    pages = _pages(database)
    code, out, err = await finished(await spawn("prune", "--dry-run", env=env))
    assert code == 0, err
    assert "would delete 124 events, 31 attempts, 31 inbound_messages" in out
    assert _pages(database) == pages  # nothing went
    code, out, err = await finished(await spawn("prune", env=env))
    assert code == 0, err
    assert "deleted 124 events, 31 attempts, 31 inbound_messages" in out
    if pages is not None:
        assert _pages(database) < pages * 0.7  # the file gave the space back
    code, out, _ = await finished(await spawn("prune", "--dry-run", env=env))
    assert "would delete 0 events, 0 attempts, 0 inbound_messages" in out
    forever = {**where, "REELHOOK_KEEP_DAYS": "0"}  # keep everything: nothing to do, no error
    code, out, err = await finished(await spawn("prune", "--dry-run", env=forever))
    assert code == 0 and "nothing is old enough to delete" in out, err


def _pages(database: str) -> int | None:
    if is_postgres(database):
        return None
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])


async def test_tick_prunes_too(tmp_path: Any) -> None:
    database = str(tmp_path / "r.db")
    key = new_fernet_key()
    target = SecretBox(key.encode()).encrypt(json.dumps({"url": "https://hooks.example/x"}))
    store = await open_store(database)
    try:
        await old_and_new(store, 2, NewDestination("webhook", target, "hook", "route-1"))
    finally:
        await store.close()
    await asyncio.sleep(1.5)  # the last task's rows are old too now
    env = {"REELHOOK_DATABASE": database, "REELHOOK_KEEP_DAYS": f"{SECOND:.8f}",
           "REELHOOK_SECRET_KEY": key}
    code, out, err = await finished(await spawn("tick", env=env))
    assert code == 0, err
    assert "old rows deleted: 18" in out  # 3 tasks: 12 events, 3 attempts, 3 inbound messages


def test_keep_days_is_checked_and_zero_keeps_everything() -> None:
    from receiver.errors import SettingsError
    from receiver.settings import keep_days_from_environ

    assert keep_days_from_environ({}) == 90.0
    assert keep_days_from_environ({"REELHOOK_KEEP_DAYS": "0"}) is None
    for bad in ("-1", "soon", "40000"):
        with pytest.raises(SettingsError, match="REELHOOK_KEEP_DAYS"):
            keep_days_from_environ({"REELHOOK_KEEP_DAYS": bad})
