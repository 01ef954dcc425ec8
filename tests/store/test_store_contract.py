"""The rest of the store's contract on both databases (tests/store/test_store_databases.py has the
first part): every method of store.interface is run here or there, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from store import (
    DeliveryBusy,
    DeliveryNotFound,
    EventIn,
    NewDestination,
    NewTask,
    Observation,
    TaskNotFound,
    TaskStore,
    interface,
    open_store,
)
from store.interface import DELIVERIES, SLOTS, TASKS
from store.models import Resealed, iso_from_epoch
from store.plans.outbox import AttemptRecord
from store.plans.retention import PRUNED
from store.plans.sealed import DESTINATION_TARGETS, HELD_REQUESTS
from store.states import DEFAULT_NOTIFY_ON

HOOK = NewDestination("webhook", "sealed-target", "hook", "route-1")
SLACK = NewDestination("slack", "sealed-slack", "slack", "route-2")
FAILED = Observation("failed", error="out of credits")


@pytest.fixture
async def store(database: str) -> AsyncIterator[TaskStore]:
    opened = await open_store(database)
    yield opened
    await opened.close()


def task(number: int, provider: str = "wave", **fields: object) -> NewTask:
    values: dict[str, object] = {
        "id": f"tsk_{number:028d}", "provider": provider, "model": "skyreels-v4-fast",
        "request": {"prompt": f"p{number}"}, "destinations": (HOOK,),
    }
    values.update(fields)
    return NewTask(**values)  # type: ignore[arg-type]


async def failed_with_notices(store: TaskStore, *numbers: int) -> list[int]:
    """Tasks that failed, each with one webhook notice due: the delivery ids."""
    for number in numbers:
        await store.create_task(task(number))
        await store.record_event(task(number).id, EventIn("cb", "callback", FAILED))
    now = time.time() + 1
    return [row["delivery_id"] for row in await store.outbox.due(now, now - 30, 100)]


def listen(store: TaskStore) -> list[tuple[str, str]]:
    heard: list[tuple[str, str]] = []
    for topic in (TASKS, DELIVERIES, SLOTS):
        store.subscribe(topic, lambda payload, topic=topic: heard.append((topic, payload)))
    return heard


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def test_tasks_are_read_one_by_one_and_in_pages(store: TaskStore) -> None:
    for number in range(1, 6):
        await store.create_task(task(number, provider="wave" if number % 2 else "piapi"))
    assert (await store.get_task(task(3).id))["request"] == '{"prompt": "p3"}'
    with pytest.raises(TaskNotFound):
        await store.get_task("tsk_" + "f" * 28)
    newest = await store.list_tasks(limit=2)
    assert [t["id"] for t in newest] == [task(5).id, task(4).id]
    after = await store.list_tasks(limit=10, before_id=task(4).id)
    assert [t["id"] for t in after] == [task(3).id, task(2).id, task(1).id]
    assert [t["id"] for t in await store.list_tasks(provider="piapi")] == [task(4).id, task(2).id]
    assert await store.list_tasks(status="succeeded") == []


async def test_events_are_kept_in_order_and_a_late_one_changes_nothing(store: TaskStore) -> None:
    await store.create_task(task(1))
    running = await store.record_event(
        task(1).id, EventIn("a", "callback", Observation("running", 40))
    )
    assert (running.recorded, running.changed, running.task["progress"]) == (True, True, 40)
    done = EventIn("b", "callback", Observation("succeeded", video_url="https://v/1.mp4"))
    assert (await store.record_event(task(1).id, done)).slot_freed
    late = await store.record_event(task(1).id, EventIn("c", "callback", Observation("failed")))
    assert (late.recorded, late.changed) == (True, False)
    events = await store.task_events(task(1).id)
    assert [e["status"] for e in events] == ["running", "succeeded", "failed"]
    finished = await store.get_task(task(1).id)
    assert (finished["status"], finished["video_url"]) == ("succeeded", "https://v/1.mp4")
    with pytest.raises(TaskNotFound):
        await store.task_events("tsk_" + "e" * 28)


async def test_a_submit_is_recorded_with_its_claim_or_held_sealed(store: TaskStore) -> None:
    heard = listen(store)
    once = {"idempotency_key": "key-1", "request_fingerprint": "fp-1"}
    first, created, claimed = await store.create_and_claim(
        task(1, **once), 1, "sealed-1", keep_sealed=True, owner="proc", lease=60.0
    )
    assert (created, claimed, first["submit_state"]) == (True, True, "sending")
    assert first["held_request"] == "sealed-1"  # kept for a resend until the provider answers
    _, created, claimed = await store.create_and_claim(task(2), 1, "sealed-2")
    assert (created, claimed) == (True, False)  # the cap of one is taken: held, sealed
    held = await store.submits.held(time.time() + 1)
    assert [(h["id"], h["held_request"]) for h in held] == [(task(2).id, "sealed-2")]
    await until(lambda: (SLOTS, "") in heard and (TASKS, task(2).id) in heard)
    again = await store.create_and_claim(task(9, **once), 1, "never")
    assert (again[0]["id"], again[1:]) == (task(1).id, (False, False))


async def test_a_held_submit_waits_for_its_time_and_a_cut_off_send_is_made_again(
    store: TaskStore,
) -> None:
    await store.create_task(task(1))
    heard = listen(store)
    await store.submits.hold(task(1).id, "sealed", time.time() + 100)
    await until(lambda: (SLOTS, "") in heard)  # on both databases: a slot's turn may have come
    assert await store.submits.held(time.time()) == []
    assert [h["id"] for h in await store.submits.held(time.time() + 101)] == [task(1).id]
    assert await store.submits.claim_slot(task(1).id, "wave", 0, keep_sealed=True, owner="a")
    heard.clear()
    assert await store.submits.resend(task(1).id) is True
    await until(lambda: (SLOTS, "") in heard)
    assert await store.submits.resend(task(1).id) is False  # pending again: nothing to resend
    resent = await store.submits.held(time.time() + 1)
    assert [(h["id"], h["held_request"]) for h in resent] == [(task(1).id, "sealed")]


async def test_attempts_move_deliveries_on_only_for_their_claims_owner(store: TaskStore) -> None:
    ids = await failed_with_notices(store, 1, 2, 3)
    now = time.time() + 1
    assert await store.outbox.claim(ids, "me", now, now - 30) == ids
    await store.outbox.finish([
        AttemptRecord(ids[0], now, 12.0, "delivered", 204),
        AttemptRecord(ids[1], now, 8.0, "retrying", 500, "HTTP 500", now + 30),
    ], "me")
    assert await store.outbox.renew(ids, "someone", now + 5) == []  # not someone's claims
    assert await store.outbox.renew(ids, "me", now + 5) == [ids[2]]  # the one still held
    # An attempt recorded by a worker whose claim was taken over still counts; it moves nothing.
    await store.outbox.finish([AttemptRecord(ids[2], now, 1.0, "delivered", 204)], "someone")
    await store.outbox.release(ids, "me")  # only the one still sending is handed back
    by_id = {d["id"]: d for d in await store.outbox.deliveries()}
    assert [by_id[i]["status"] for i in ids] == ["delivered", "pending", "pending"]
    assert [by_id[i]["attempts"] for i in ids] == [1, 1, 1]
    assert [len(by_id[i]["attempt_log"]) for i in ids] == [1, 1, 1]  # counts agree with lists
    assert by_id[ids[0]]["delivered_at"] and by_id[ids[1]]["last_error"] == "HTTP 500"
    log = by_id[ids[1]]["attempt_log"]
    assert [(a["status_code"], a["outcome"]) for a in log] == [(500, "retrying")]
    assert await store.outbox.next_due_at() == pytest.approx(min(now, by_id[ids[2]][
        "next_attempt_at"]))
    mine = await store.outbox.deliveries(task_id=task(1).id)
    assert [d["id"] for d in mine] == [ids[0]]
    assert [d["id"] for d in await store.outbox.deliveries(status="delivered")] == [ids[0]]
    older = await store.outbox.deliveries(limit=1, before_id=ids[2])
    assert [d["id"] for d in older] == [ids[1]]


async def test_a_redelivery_is_announced_and_revives_a_disabled_route(store: TaskStore) -> None:
    ids = await failed_with_notices(store, 1, 2)
    assert await store.outbox.disable_route("route-1", "gone: HTTP 410") == 2
    dead = await store.outbox.deliveries()
    assert {(d["status"], d["disabled_reason"]) for d in dead} == {("dead", "gone: HTTP 410")}
    assert await store.outbox.next_due_at() is None
    heard = listen(store)
    again = await store.outbox.redeliver(ids[0], time.time())
    assert (again["status"], again["disabled_reason"]) == ("pending", None)
    await until(lambda: (DELIVERIES, "") in heard)  # the worker wakes on both databases
    with pytest.raises(DeliveryBusy):
        await store.outbox.redeliver(ids[0], time.time())
    with pytest.raises(DeliveryNotFound):
        await store.outbox.redeliver(10**9, time.time())


async def test_every_destination_gets_its_notice_and_counts_add_up(store: TaskStore) -> None:
    await store.create_task(task(1, destinations=(HOOK, SLACK), cost_usd=0.5))
    sent = EventIn("s", "submit", Observation("queued"), provider_task_id="wave-1")
    await store.record_event(task(1).id, sent)
    outcome = await store.record_event(task(1).id, EventIn("cb", "callback", FAILED))
    assert outcome.notices_queued == 2
    snapshot = await store.stats.snapshot()
    assert snapshot["deliveries"] == [{"status": "pending", "n": 2}]
    assert snapshot["in_flight"] == []  # a finished task holds no slot
    today = time.strftime("%Y-%m-%d", time.gmtime())
    daily = await store.stats.daily_costs(today)
    assert daily == [{"provider": "wave", "day": today, "tasks": 1, "cost_usd": 0.5}]
    assert await store.cost_totals("succeeded") == []
    assert store.failure() is None
    assert await store.trouble() is None
    assert store.notify_on == DEFAULT_NOTIFY_ON


async def test_inbound_messages_are_listed_per_source_and_in_pages(store: TaskStore) -> None:
    for number, source in enumerate(["a", "b", "a"]):
        assert await store.inbound.record(source, f"msg_{number}", f'{{"n": {number}}}')
    assert [m["webhook_id"] for m in await store.inbound.messages("a")] == ["msg_0", "msg_2"]
    newest = await store.inbound.recent(limit=2)
    assert [m["webhook_id"] for m in newest] == ["msg_2", "msg_1"]
    rest = await store.inbound.recent(before_id=newest[-1]["id"])
    assert [m["webhook_id"] for m in rest] == ["msg_0"]


async def test_sealed_values_are_found_paged_and_sealed_again_where_unchanged(
    store: TaskStore,
) -> None:
    sealed = store.sealed
    assert await sealed.key_check() is None and await sealed.any_value() is None
    await sealed.set_key_check("check-1")
    await sealed.set_key_check("check-2")  # the first writer's stays
    assert await sealed.key_check() == "check-1"
    await sealed.set_key_check("check-3", replace=True)
    assert await sealed.key_check() == "check-3"
    for number in (1, 2, 3):
        await store.create_task(task(number))
    assert await sealed.any_value() == "sealed-target"
    first = await sealed.page(DESTINATION_TARGETS, None, 2)
    assert [(r["sealed"], r["context"]) for r in first] == [("sealed-target", "webhook")] * 2
    rest = await sealed.page(DESTINATION_TARGETS, first[-1]["key"], 2)
    assert len(rest) == 1 and rest[0]["key"] > first[-1]["key"]
    changes = [Resealed(first[0]["key"], "sealed-target", "new-target", "route-9"),
               Resealed(first[1]["key"], "changed-meanwhile", "new-target", "route-9")]
    assert await sealed.reseal(DESTINATION_TARGETS, changes) == 1
    after = await sealed.page(DESTINATION_TARGETS, None, 10)
    assert [r["sealed"] for r in after] == ["new-target", "sealed-target", "sealed-target"]
    assert await sealed.page(HELD_REQUESTS, None, 10) == []


async def test_ended_sessions_are_refused_until_they_would_expire(store: TaskStore) -> None:
    assert await store.sessions.is_ended("sid-1") is False
    await store.sessions.end("sid-1", time.time() + 3600)
    await store.sessions.end("sid-1", time.time() + 3600)  # twice: still one
    await store.sessions.end("sid-old", time.time() - 1)  # past its expiry: forgotten next time
    assert await store.sessions.is_ended("sid-1") and await store.sessions.is_ended("sid-old")
    await store.sessions.end("sid-2", time.time() + 3600)
    assert await store.sessions.is_ended("sid-old") is False
    assert await store.sessions.is_ended("sid-2")


async def test_old_rows_are_counted_and_deleted_a_batch_at_a_time(store: TaskStore) -> None:
    await failed_with_notices(store, 1, 2, 3)  # three events
    events = PRUNED[0]
    later = "2999-01-01T00:00:00.000Z"  # everything is older than that
    assert await store.retention.count_old(events, "2000-01-01T00:00:00.000Z") == 0
    assert await store.retention.count_old(events, later) == 3
    assert await store.retention.delete_old(events, later, 2) == 2  # the oldest two only
    assert await store.retention.delete_old(events, later, 2) == 1
    assert await store.retention.count_old(events, later) == 0
    await store.reclaim_space()
    assert [t["status"] for t in await store.list_tasks()] == ["failed"] * 3


def test_every_method_of_the_interface_is_run_on_both_databases() -> None:
    here = Path(__file__).parent
    tested = "".join(
        (here / name).read_text()
        for name in ("test_store_contract.py", "test_store_databases.py", "test_store_videos.py",
                     "test_store_destinations.py", "test_store_health.py",
                     "test_store_due_work.py")
    )
    protocols = [interface.TaskStore, interface.OutboxStore, interface.PollScheduleStore,
                 interface.SubmitSlotsStore, interface.InboundStore, interface.StatsStore,
                 interface.VideoCopyStore, interface.SealedStore, interface.SessionStore,
                 interface.RetentionStore, interface.DestinationStore,
                 interface.AlertStore]
    untested = [
        f"{protocol.__name__}.{name}"
        for protocol in protocols
        for name, member in vars(protocol).items()
        if not name.startswith("_") and (callable(member) or isinstance(member, property))
        and f".{name}" not in tested
    ]
    assert untested == []


async def test_a_write_reads_one_clock_for_its_iso_and_unix_times(store: TaskStore) -> None:
    created, _ = await store.create_task(task(1, destinations=(HOOK,)))
    assert created["created_at"] == iso_from_epoch(created["last_event_at"] or 0)
    await store.record_event(created["id"], EventIn("done", "poll", Observation("succeeded", 100,
                                                    "https://cdn.example.com/v.mp4")))
    moved = await store.get_task(created["id"])
    assert moved["updated_at"] == iso_from_epoch(moved["last_event_at"] or 0)
    event, = [row for row in await store.task_events(created["id"])]
    assert event["received_at"] == moved["updated_at"]
    delivery, = await store.outbox.deliveries()
    assert delivery["created_at"] == iso_from_epoch(delivery["next_attempt_at"] or 0)


async def test_counts_follow_every_change_and_a_fold_keeps_them(store: TaskStore) -> None:
    async def counts() -> tuple[object, ...]:
        snapshot = await store.stats.snapshot()
        today = time.strftime("%Y-%m-%d", time.gmtime())
        return (snapshot["tasks"], snapshot["deliveries"], snapshot["attempts"],
                snapshot["videos"], await store.cost_totals(), await store.cost_totals("failed"),
                await store.stats.daily_costs(today))

    today = time.strftime("%Y-%m-%d", time.gmtime())
    await store.create_task(task(1, cost_usd=0.1))
    await store.create_task(task(2, cost_usd=0.2))
    await store.create_task(task(3, provider="piapi"))
    for number in (1, 2):  # accepted by the provider, then failed (a notice each)
        sent = EventIn("s", "submit", Observation("queued"), provider_task_id=f"w-{number}")
        await store.record_event(task(number).id, sent)
    await store.record_event(task(1).id, EventIn("r", "callback", Observation("running", 40)))
    await store.record_event(task(1).id, EventIn("p", "callback", Observation("running", 80)))
    await store.record_event(task(1).id, EventIn("f", "callback", FAILED))
    ids = [row["delivery_id"] for row in await store.outbox.due(time.time() + 1, 0, 100)]
    now = time.time() + 1
    await store.outbox.claim(ids, "me", now, now - 30)
    await store.outbox.finish([AttemptRecord(ids[0], now, 5.0, "retrying", 500, "HTTP 500",
                                             now + 1)], "me")
    expected = (
        [{"provider": "piapi", "status": "queued", "n": 1},
         {"provider": "wave", "status": "failed", "n": 1},
         {"provider": "wave", "status": "queued", "n": 1}],
        [{"status": "pending", "n": 1}],
        [{"channel": "webhook", "outcome": "retrying", "n": 1}],
        [],
        [{"provider": "wave", "tasks": 2, "priced_tasks": 2, "cost_usd": 0.3}],
        [{"provider": "wave", "tasks": 1, "priced_tasks": 1, "cost_usd": 0.1}],
        [{"provider": "piapi", "day": today, "tasks": 1, "cost_usd": 0.0},
         {"provider": "wave", "day": today, "tasks": 2, "cost_usd": 0.3}],
    )
    assert await counts() == expected
    assert await store.stats.fold(limit=3) == 3  # a fold takes the oldest deltas only
    assert await counts() == expected
    assert await store.stats.fold() > 0
    assert await counts() == expected  # the same, read from the totals now
    assert await store.stats.fold() == 0
    # Pruning attempts leaves them counted: reelhook_deliveries is a counter.
    attempts = next(kept for kept in PRUNED if kept.table == "attempts")
    assert await store.retention.delete_old(attempts, "9999-12-31T23:59:59.999Z", 100) == 1
    assert (await store.stats.snapshot())["attempts"] == expected[2]


async def test_a_finish_tried_again_after_an_unseen_commit_records_nothing_twice(
    store: TaskStore,
) -> None:
    ids = await failed_with_notices(store, 1, 2)
    now = time.time() + 1
    await store.outbox.claim(ids, "me", now, now - 30)
    records = [AttemptRecord(ids[0], now, 5.0, "delivered", 204),
               AttemptRecord(ids[1], now, 5.0, "retrying", 500, "HTTP 500", now + 60)]
    await store.outbox.finish(records, "me")
    await store.outbox.finish(records, "me")  # its first commit went through, unseen
    by_id = {d["id"]: d for d in await store.outbox.deliveries()}
    assert [by_id[i]["attempts"] for i in ids] == [1, 1]
    assert [len(by_id[i]["attempt_log"]) for i in ids] == [1, 1]
    assert [by_id[i]["status"] for i in ids] == ["delivered", "pending"]
    attempts = (await store.stats.snapshot())["attempts"]
    assert sorted((row["outcome"], row["n"]) for row in attempts) == [
        ("delivered", 1), ("retrying", 1)]
    later = AttemptRecord(ids[1], now + 61, 5.0, "delivered", 204)  # a new attempt counts
    await store.outbox.claim([ids[1]], "me", now + 61, now + 31)
    await store.outbox.finish([later], "me")
    delivered = {d["id"]: d for d in await store.outbox.deliveries()}[ids[1]]
    assert (delivered["attempts"], delivered["status"]) == (2, "delivered")


async def test_a_new_attempt_in_the_same_millisecond_as_the_last_still_counts(
    store: TaskStore,
) -> None:
    [delivery] = await failed_with_notices(store, 1)
    now = int((time.time() + 1) * 1000) / 1000 + 0.0001  # both starts in one millisecond
    await store.outbox.claim([delivery], "me", now, now - 30)
    await store.outbox.finish(
        [AttemptRecord(delivery, now, 1.0, "retrying", 500, "HTTP 500", now)], "me")
    await store.outbox.claim([delivery], "me", now + 0.0002, now - 30)
    await store.outbox.finish([AttemptRecord(delivery, now + 0.0002, 1.0, "delivered", 204)],
                              "me")
    [found] = await store.outbox.deliveries()
    assert (found["attempts"], found["status"], len(found["attempt_log"])) == (
        2, "delivered", 2)
