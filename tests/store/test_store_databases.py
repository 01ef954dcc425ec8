"""The store's contract, on SQLite and on PostgreSQL alike (the `database` fixture)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from store import (
    EventIn,
    IdempotencyConflict,
    NewDestination,
    NewTask,
    Observation,
    SchemaMismatch,
    TaskStore,
    open_store,
    schema_state,
)
from store.interface import DELIVERIES, SLOTS, TASKS
from store.migrations import MIGRATION_NAMES
from store.sqlite.schema import migrate

HOOK = NewDestination("webhook", "sealed-target", "hook", "route-1")


@pytest.fixture
async def store(database: str) -> AsyncIterator[TaskStore]:
    opened = await open_store(database)
    yield opened
    await opened.close()


def task(number: int, **fields: object) -> NewTask:
    values: dict[str, object] = {
        "id": f"tsk_{number:028d}", "provider": "wave", "model": "skyreels-v4-fast",
        "request": {}, "destinations": (HOOK,),
    }
    values.update(fields)
    return NewTask(**values)  # type: ignore[arg-type]


async def test_idempotency_key_returns_the_first_task(store: TaskStore) -> None:
    first, created = await store.create_task(task(1, idempotency_key="k", request_fingerprint="f"))
    again, created_again = await store.create_task(
        task(2, idempotency_key="k", request_fingerprint="f")
    )
    assert (created, created_again) == (True, False)
    assert again["id"] == first["id"]
    with pytest.raises(IdempotencyConflict):
        await store.create_task(task(3, idempotency_key="k", request_fingerprint="other"))
    assert [t["id"] for t in await store.list_tasks()] == [first["id"]]


async def test_an_event_is_recorded_once_and_queues_its_notice_once(store: TaskStore) -> None:
    await store.create_task(task(1))
    done = EventIn("cb-1", "callback", Observation("succeeded", video_url="https://v/1.mp4"))
    first = await store.record_event(task(1).id, done)
    repeat = await store.record_event(task(1).id, done)
    late = await store.record_event(task(1).id, EventIn("cb-2", "callback", Observation("running")))
    assert (first.recorded, first.changed, first.notices_queued, first.slot_freed) == (
        True, True, 1, True)
    assert (repeat.recorded, repeat.notices_queued) == (False, 0)
    assert (late.recorded, late.changed, late.task["status"]) == (True, False, "succeeded")
    assert len(await store.task_events(task(1).id)) == 2
    deliveries = await store.outbox.deliveries(task_id=task(1).id)
    assert [(d["state"], d["status"]) for d in deliveries] == [("succeeded", "pending")]


async def test_a_task_recorded_with_notify_queued_has_its_queued_notices_at_once(
    store: TaskStore,
) -> None:
    await store.create_task(task(1, notify_queued=True))
    await store.create_task(task(2))
    await store.create_and_claim(task(3, notify_queued=True), 5, "sealed")
    for number, states in ((1, ["queued"]), (2, []), (3, ["queued"])):
        deliveries = await store.outbox.deliveries(task_id=task(number).id)
        assert [d["state"] for d in deliveries if d["status"] == "pending"] == states


async def test_a_claimed_delivery_is_taken_over_only_when_its_lease_ran_out(
    store: TaskStore,
) -> None:
    await store.create_task(task(1))
    await store.record_event(task(1).id, EventIn("cb", "callback", Observation("failed")))
    now = time.time() + 1
    due = await store.outbox.due(now, now - 30, 10)
    ids = [row["delivery_id"] for row in due]
    assert await store.outbox.claim(ids, "worker-a", now, now - 30) == ids
    assert await store.outbox.due(now + 1, now - 30, 10) == []
    assert await store.outbox.claim(ids, "worker-b", now + 1, now - 30) == []
    later = now + 60  # worker-a went quiet: its lease (30 s here) ran out
    assert await store.outbox.claim(ids, "worker-b", later, later - 30) == ids


async def test_a_claim_reads_only_the_deliveries_it_took_with_their_task(
    store: TaskStore,
) -> None:
    for n in (1, 2, 3):
        await store.create_task(task(n))
        await store.record_event(task(n).id, EventIn("cb", "callback", Observation("failed")))
    now = time.time() + 1
    ids = [row["delivery_id"] for row in await store.outbox.due(now, now - 30, 10)]
    assert await store.outbox.claim(ids[1:2], "worker-a", now, now - 30) == ids[1:2]
    claimed, rows = await store.outbox.claim_rows(ids[::-1], "worker-b", now, now - 30)
    assert claimed == [ids[2], ids[0]]  # in the order asked, without worker-a's
    by_id = {row["delivery_id"]: row for row in rows}
    assert sorted(by_id) == sorted(claimed)
    assert {row["task_id"] for row in rows} == {task(1).id, task(3).id}
    assert all(row["state"] == "failed" and row["status"] == "failed" and row["attempts"] == 0
               and row["channel"] == "webhook" and row["target"] for row in rows)
    # When the notice was queued: the moment the task reached the state, the webhook's time.
    assert all(row["queued_at"] >= row["created_at"] for row in rows)
    assert await store.outbox.claim_rows(ids, "worker-c", now, now - 30) == ([], [])


async def test_a_due_poll_goes_to_one_poller_until_its_lease_runs_out(store: TaskStore) -> None:
    await store.create_task(task(1))
    sent = EventIn("submit", "submit", Observation("queued"), provider_task_id="wave-1")
    await store.record_event(task(1).id, sent)
    now = time.time()
    first = await store.polls.claim_due(now, ["wave"], 10, "poller-a", 30.0)
    assert [row["id"] for row in first] == [task(1).id]
    assert first[0]["next_poll_at"] is None  # the rows come back as they were before the claim
    assert await store.polls.claim_due(now + 1, ["wave"], 10, "poller-b", 30.0) == []
    taken_over = await store.polls.claim_due(now + 31, ["wave"], 10, "poller-b", 30.0)
    assert [row["id"] for row in taken_over] == [task(1).id]
    await store.polls.schedule(task(1).id, now + 100, 1, now + 3600)
    assert await store.polls.claim_due(now + 50, ["wave"], 10, "poller-a", 30.0) == []


async def test_a_poll_handed_back_is_due_at_once_for_any_poller(store: TaskStore) -> None:
    await store.create_task(task(1))
    sent = EventIn("submit", "submit", Observation("queued"), provider_task_id="wave-1")
    await store.record_event(task(1).id, sent)
    now = time.time()
    assert len(await store.polls.claim_due(now, ["wave"], 10, "poller-a", 30.0)) == 1
    await store.polls.release([task(1).id], "poller-b", now + 1)  # not poller-b's to give
    assert await store.polls.claim_due(now + 2, ["wave"], 10, "poller-b", 30.0) == []
    await store.polls.release([task(1).id], "poller-a", now + 2)
    again = await store.polls.claim_due(now + 2, ["wave"], 10, "poller-b", 30.0)
    assert [row["id"] for row in again] == [task(1).id]


async def test_a_send_claim_is_failed_over_only_after_its_lease(store: TaskStore) -> None:
    await store.create_task(task(1))
    assert await store.submits.claim_slot(task(1).id, "wave", 5, owner="proc-a", lease=60.0)
    now = time.time()
    assert await store.submits.interrupted(now, grace=60.0) == []  # proc-a is alive: hands off
    cut_off = await store.submits.interrupted(now + 61, grace=60.0)
    assert [row["id"] for row in cut_off] == [task(1).id]


async def test_the_in_flight_cap_counts_sends_and_waits_for_earlier_tasks(
    store: TaskStore,
) -> None:
    for number in range(7):
        await store.create_task(task(number))
    claimed = [
        await store.submits.claim_slot(task(n).id, "wave", 5, owner="p", lease=60.0)
        for n in range(7)
    ]
    assert claimed == [True] * 5 + [False] * 2
    await store.record_event(task(0).id, EventIn("x", "callback", Observation("failed")))
    assert await store.submits.claim_slot(task(5).id, "wave", 5, owner="p", lease=60.0)


async def test_commits_are_announced_to_subscribers(store: TaskStore) -> None:
    heard: list[tuple[str, str]] = []
    for topic in (TASKS, DELIVERIES, SLOTS):
        store.subscribe(topic, lambda payload, topic=topic: heard.append((topic, payload)))
    await store.create_task(task(1))
    await store.record_event(task(1).id, EventIn("cb", "callback", Observation("succeeded")))
    expected = {(TASKS, task(1).id), (DELIVERIES, ""), (SLOTS, "")}
    await _until(lambda: expected <= set(heard))


async def test_inbound_messages_are_recorded_once(store: TaskStore) -> None:
    assert await store.inbound.record("github", "msg_1", "{}") is True
    assert await store.inbound.record("github", "msg_1", "{}") is False
    assert [m["webhook_id"] for m in await store.inbound.recent(source="github")] == ["msg_1"]


async def test_costs_and_counts(store: TaskStore) -> None:
    for n, cost in ((1, 0.25), (2, 0.5), (3, 1.0)):
        await store.create_task(task(n, cost_usd=cost))
    for n in (1, 2):  # only tasks the provider accepted cost anything; task 3 was never sent
        sent = EventIn("submit", "submit", Observation("queued"), provider_task_id=f"wave-{n}")
        await store.record_event(task(n).id, sent)
    totals = await store.cost_totals()
    assert totals == [{"provider": "wave", "tasks": 2, "priced_tasks": 2, "cost_usd": 0.75}]
    snapshot = await store.stats.snapshot()
    assert snapshot["tasks"] == [{"provider": "wave", "status": "queued", "n": 3}]


async def test_a_current_database_passes_the_version_check(database: str) -> None:
    opened = await open_store(database)  # a new SQLite file is created with the current schema
    await opened.close()
    state = await schema_state(database)
    assert state.applied == MIGRATION_NAMES
    state.check()


async def test_a_database_behind_names_the_command_to_run(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    migrate(path, stop_before=MIGRATION_NAMES[-1])
    with pytest.raises(SchemaMismatch, match="reelhook migrate"):
        await open_store(path, migrate=False)


async def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.01)
