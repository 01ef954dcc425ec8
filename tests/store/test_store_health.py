"""What attempts mean for their destination, on SQLite and PostgreSQL: a destination failing
long enough is disabled, and the operator's alerts are queued (notice.dead at most hourly per
address), claimed, sent and retried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from store import EventIn, NewDestination, NewTask, Observation, TaskStore, open_store
from store.plans.health import (
    DISABLED,
    NOTICE_DEAD,
    RECOVERED,
    HealthPolicy,
    RouteState,
    judge,
)
from store.plans.outbox import AttemptRecord

DAY = 86400.0
POLICY = HealthPolicy(disable_after=5 * DAY, alerts=True)
HOOK = NewDestination("webhook", "sealed", "hooks.example/…", "route-1")


def test_judge_tells_each_outcome_what_it_means() -> None:
    fine = RouteState()
    assert judge("delivered", 0, None, fine, POLICY).alert is None
    first = judge("retrying", 100.0, "HTTP 500", fine, POLICY)
    assert first.state == RouteState(100.0, False, 100.0) and first.alert is None
    state, at = first.state, 100.0
    while at + 10 * 3600 < 100.0 + 5 * DAY:  # failing every ten hours, for almost five days
        at += 10 * 3600
        later = judge("retrying", at, "HTTP 500", state, POLICY)
        assert later.disable is None and later.state.failing_since == 100.0
        state = later.state
    gone_long = judge("retrying", 100.0 + 5 * DAY, "HTTP 500", state, POLICY)
    assert gone_long.alert == DISABLED and "5 days" in (gone_long.disable or "")
    assert "HTTP 500" in (gone_long.reason or "")
    # A failure after a quiet day and more starts the clock again: nothing was tried meanwhile.
    quiet = judge("retrying", 100.0 + 11 * DAY, "HTTP 500", first.state, POLICY)
    assert quiet.disable is None and quiet.state.failing_since == 100.0 + 11 * DAY
    assert judge("dead", 5.0, "HTTP 400", fine, POLICY).alert == NOTICE_DEAD
    assert judge("gone", 5.0, "HTTP 410", fine, POLICY).alert == DISABLED
    back = judge("delivered", 9.0, None, RouteState(5.0, troubled=True), POLICY)
    assert back.alert == RECOVERED and back.state == RouteState()
    never = HealthPolicy(disable_after=None, alerts=True)
    assert judge("retrying", 100 * DAY, "x", RouteState(0.0), never).disable is None


@pytest.fixture
async def store(database: str) -> AsyncIterator[TaskStore]:
    opened = await open_store(database)
    yield opened
    await opened.close()


async def failed_delivery(store: TaskStore, number: int) -> int:
    task_id = f"tsk_{number:028d}"
    await store.create_task(NewTask(task_id, "wave", "m", {}, destinations=(HOOK,)))
    await store.record_event(task_id, EventIn("e", "callback", Observation("failed", error="x")))
    [delivery] = await store.outbox.deliveries(task_id=task_id)
    return int(delivery["id"])


async def attempt(
    store: TaskStore, delivery_id: int, outcome: str, at: float, policy: HealthPolicy = POLICY
) -> None:
    now = time.time()
    [claimed] = await store.outbox.claim([delivery_id], "w", now + 1, now - 60)
    error = None if outcome == "delivered" else "HTTP 500"
    await store.outbox.finish([AttemptRecord(claimed, at, 5.0, outcome, 500, error,
                                             now if outcome == "retrying" else None)], "w", policy)


async def test_a_destination_failing_for_days_is_disabled_and_alerted_once(
    store: TaskStore,
) -> None:
    first, second = await failed_delivery(store, 1), await failed_delivery(store, 2)
    start = time.time() - 6 * DAY
    for hours in range(0, 5 * 24, 10):  # every ten hours for five days, all failed
        await attempt(store, first, "retrying", start + hours * 3600)
    assert await store.alerts.recent() == []
    await attempt(store, first, "retrying", start + 5 * DAY + 1)
    [delivery] = await store.outbox.deliveries(delivery_id=first)
    assert "every attempt failed for 5 days" in delivery["disabled_reason"]
    [other] = await store.outbox.deliveries(delivery_id=second)
    assert other["status"] == "dead"  # its waiting notice went with the destination
    [alert] = await store.alerts.recent()
    assert (alert["kind"], alert["route_key"], alert["label"]) == (DISABLED, "route-1", HOOK.label)


async def test_dead_notices_alert_at_most_hourly_and_recovery_is_told(store: TaskStore) -> None:
    ids = [await failed_delivery(store, number) for number in (1, 2, 3)]
    now = time.time()
    await attempt(store, ids[0], "dead", now)
    await attempt(store, ids[1], "dead", now)
    assert [a["kind"] for a in await store.alerts.recent()] == [NOTICE_DEAD]
    await attempt(store, ids[2], "delivered", now)
    assert [a["kind"] for a in await store.alerts.recent()] == [RECOVERED, NOTICE_DEAD]
    quiet = await failed_delivery(store, 4)
    await attempt(store, quiet, "dead", now, HealthPolicy(alerts=False))
    assert len(await store.alerts.recent()) == 2  # no alerts destination: nothing queued


async def test_alerts_are_claimed_once_settled_and_retried(store: TaskStore) -> None:
    await attempt(store, await failed_delivery(store, 1), "dead", time.time())
    now = time.time()
    [claimed] = await store.alerts.claim(now + 1, now - 60, "sender-a")
    assert await store.alerts.claim(now + 1, now - 60, "sender-b") == []
    assert await store.alerts.settle(claimed["id"], "sender-b", None, None) is False
    assert await store.alerts.settle(claimed["id"], "sender-a", "HTTP 503", now) is True
    [again] = await store.alerts.claim(now + 1, now - 60, "sender-b")
    assert again["attempts"] == 1 and again["last_error"] == "HTTP 503"
    assert await store.alerts.settle(again["id"], "sender-b", None, None) is True
    [sent] = await store.alerts.recent()
    assert sent["status"] == "sent" and sent["sent_at"] is not None
    assert await store.alerts.claim(time.time() + 1, time.time() - 60, "sender-c") == []


async def test_two_workers_telling_one_recovery_at_once_send_one_alert(store: TaskStore) -> None:
    ids = [await failed_delivery(store, number) for number in range(1, 4)]
    await attempt(store, ids[0], "dead", time.time())  # alerted: the address is in trouble
    now = time.time()
    claimed = await store.outbox.claim(ids[1:], "w", now + 1, now - 60)
    records = [AttemptRecord(i, now, 5.0, "delivered", 200) for i in claimed]
    await asyncio.gather(*(store.outbox.finish([record], "w", POLICY) for record in records))
    kinds = [a["kind"] for a in await store.alerts.recent()]
    assert kinds == [RECOVERED, NOTICE_DEAD]


async def test_a_route_gone_outside_a_delivery_is_disabled_told_and_its_recovery_told(
    store: TaskStore,
) -> None:
    """A test send answered 410: the route's destinations are disabled, its waiting notices end,
    the operator is told once, and a delivery that gets through later tells the recovery."""
    waiting = await failed_delivery(store, 1)
    assert await store.outbox.gone("route-1", HOOK.label, "HTTP 410", time.time(), POLICY) == 1
    assert await store.outbox.gone("route-1", HOOK.label, "HTTP 410", time.time(), POLICY) == 0
    [delivery] = await store.outbox.deliveries(delivery_id=waiting)
    assert delivery["status"] == "dead" and delivery["disabled_reason"] == "HTTP 410"
    [alert] = await store.alerts.recent()
    assert (alert["kind"], alert["route_key"], alert["reason"]) == (DISABLED, "route-1", "HTTP 410")
    again = await failed_delivery(store, 2)
    await attempt(store, again, "delivered", time.time())
    assert [a["kind"] for a in await store.alerts.recent()] == [RECOVERED, DISABLED]
