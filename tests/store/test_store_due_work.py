"""What work waits (`due_work`, asked by an idle `reelhook tick` before it builds any sender), on
SQLite and PostgreSQL alike: each kind of due work is seen, and nothing is seen when none waits.
An answer may say "due" for a claim a live sender holds, never "not due" for work that is."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict

import pytest

from store import EventIn, KeptCopy, NewDestination, NewTask, Observation, TaskStore, open_store
from store.models import HealthPolicy, iso_from_epoch
from store.plans.outbox import AttemptRecord

HOOK = NewDestination("webhook", "sealed-target", "hook", "route-1")
WAIT = 60.0
SENT = Observation("queued")
DONE = Observation("succeeded", video_url="https://cdn.example/v.mp4", video_expires_at=4e9)


@pytest.fixture
async def store(database: str) -> AsyncIterator[TaskStore]:
    opened = await open_store(database, video_wait=WAIT)
    yield opened
    await opened.close()


def task(number: int) -> NewTask:
    return NewTask(f"tsk_{number:028d}", "wave", "skyreels-v4-fast", {}, destinations=(HOOK,))


async def waiting(
    store: TaskStore, at: float, pollable: Sequence[str] = ("wave",), kept_before: str | None = None
) -> set[str]:
    due = await store.due_work(at, pollable, kept_before)
    return {name for name, waits in asdict(due).items() if waits}


async def sent(store: TaskStore, number: int) -> str:
    """A task the provider has: sent, unfinished, its first poll due."""
    await store.create_task(task(number))
    await store.record_event(task(number).id, EventIn("s", "submit", SENT, provider_task_id="p"))
    return task(number).id


async def test_nothing_waits_in_an_empty_store(store: TaskStore) -> None:
    assert await waiting(store, time.time() + 10**6, kept_before=iso_from_epoch(4e9)) == set()
    assert not (await store.due_work(time.time(), ("wave",), None)).any()


async def test_a_send_cut_off_waits_once_its_claim_runs_out(store: TaskStore) -> None:
    now = time.time()
    await store.create_task(task(1))  # recorded, never claimed: its process may be gone
    assert await waiting(store, now + 1) == {"interrupted_sends"}
    assert await store.submits.claim_slot(task(1).id, "wave", 0, owner="a", lease=60.0)
    assert await waiting(store, now + 1) == set()  # a live claim: its process is sending
    assert await waiting(store, now + 120) == {"interrupted_sends"}


async def test_a_held_submission_waits_from_its_time(store: TaskStore) -> None:
    now = time.time()
    await store.create_task(task(1))
    await store.submits.hold(task(1).id, "sealed", now + 100)
    assert await waiting(store, now + 50) == set()
    assert await waiting(store, now + 101) == {"held_submissions"}


async def test_a_poll_waits_for_a_pollable_provider_only(store: TaskStore) -> None:
    await sent(store, 1)
    now = time.time() + 1
    assert await waiting(store, now) == {"polls"}
    assert await waiting(store, now, pollable=("piapi",)) == set()
    assert await waiting(store, now, pollable=()) == set()
    await store.polls.schedule(task(1).id, now + 30, 1)
    assert await waiting(store, now) == set()
    assert await waiting(store, now + 31) == {"polls"}


async def test_a_video_copy_then_its_notice_then_its_deletion_wait(store: TaskStore) -> None:
    task_id = await sent(store, 1)
    await store.polls.schedule(task_id, time.time() + 10**6, 1)
    await store.record_event(task_id, EventIn("done", "callback", DONE))
    now = time.time() + 1
    assert await waiting(store, now) == {"video_copies"}  # the notice waits for the copy
    assert await waiting(store, now + WAIT + 5) == {"video_copies", "notices"}
    [claimed] = await store.videos.claim_copies(now, 10, "keeper", 600.0)
    assert await waiting(store, now) == set()  # the keeper holds it
    copy = KeptCopy(f"videos/{task_id}.mp4", 10, "ab" * 32, "video/mp4")
    assert await store.videos.keep(claimed["id"], "keeper", copy)
    assert await waiting(store, now + 1) == {"notices"}
    later = iso_from_epoch(time.time() + 10)
    assert await waiting(store, now + 1, kept_before=later) == {"notices", "old_video_copies"}
    assert await waiting(store, now + 1, kept_before=iso_from_epoch(now - 3600)) == {"notices"}


async def test_a_notice_claimed_waits_again_and_an_alert_waits(store: TaskStore) -> None:
    await store.create_task(task(1))
    await store.submits.claim_slot(task(1).id, "wave", 0, owner="a", lease=10**6)
    await store.record_event(task(1).id, EventIn("e", "callback", Observation("failed")))
    now = time.time() + 1
    assert await waiting(store, now) == {"notices"}
    [delivery] = await store.outbox.deliveries(task_id=task(1).id)
    [claimed] = await store.outbox.claim([delivery["id"]], "worker", now, now - 60)
    assert await waiting(store, now + 1) == {"notices"}  # any claim counts: its worker may be gone
    policy = HealthPolicy(alerts=True)
    record = AttemptRecord(claimed, now, 5.0, "dead", 500, "HTTP 500")
    await store.outbox.finish([record], "worker", policy)
    assert await waiting(store, time.time() + 1) == {"alerts"}
