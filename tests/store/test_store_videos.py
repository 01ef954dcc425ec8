"""Kept videos in the store, on SQLite and PostgreSQL alike: the copy job is queued with the
task's success, claimed by one keeper at a time, and its outcome brings the notices forward."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from store import EventIn, KeptCopy, NewDestination, NewTask, Observation, TaskStore, open_store
from store.interface import DELIVERIES

HOOK = NewDestination("webhook", "sealed-target", "hook", "route-1")
WAIT = 60.0
DONE = Observation("succeeded", video_url="https://cdn.example/v.mp4", video_expires_at=4e9)


@pytest.fixture
async def store(database: str) -> AsyncIterator[TaskStore]:
    opened = await open_store(database, video_wait=WAIT)
    yield opened
    await opened.close()


def task(number: int) -> NewTask:
    return NewTask(f"tsk_{number:028d}", "wave", "skyreels-v4-fast", {}, destinations=(HOOK,))


async def succeeded(store: TaskStore, number: int) -> str:
    await store.create_task(task(number))
    await store.record_event(task(number).id, EventIn(f"done-{number}", "callback", DONE))
    return task(number).id


async def test_a_success_queues_one_copy_and_its_notice_waits_for_it(store: TaskStore) -> None:
    task_id = await succeeded(store, 1)
    row = await store.get_task(task_id)
    assert (row["video_status"], row["video_expires_at"]) == ("pending", 4e9)
    now = time.time()
    assert await store.outbox.due(now + 1, now - 30, 10) == []  # the notice waits for the copy
    assert await store.outbox.next_due_at() == pytest.approx(now + WAIT, abs=5)
    assert await store.videos.next_due_at() == pytest.approx(now, abs=5)
    first = await store.videos.claim_copies(now + 1, 10, "keeper-a", 600.0)
    assert [(c["id"], c["video_url"]) for c in first] == [(task_id, DONE.video_url)]
    assert await store.videos.claim_copies(now + 2, 10, "keeper-b", 600.0) == []
    heard: list[str] = []
    store.subscribe(DELIVERIES, heard.append)
    copy = KeptCopy(f"videos/{task_id}.mp4", 1234, "ab" * 32, "video/mp4")
    assert await store.videos.keep(task_id, "keeper-b", copy) is False  # not its claim
    assert await store.videos.keep(task_id, "keeper-a", copy) is True
    kept = await store.get_task(task_id)
    assert (kept["video_status"], kept["video_bytes"], kept["video_key"]) == (
        "kept", 1234, copy.key
    )
    assert kept["video_kept_at"] and kept["video_claim_owner"] is None
    due = await store.outbox.due(time.time() + 1, now - 30, 10)
    assert len(due) == 1  # the notice goes now, with the link that lasts
    assert await store.videos.next_due_at() is None


async def test_a_copy_is_retried_then_failed_and_taken_over_after_its_lease(
    store: TaskStore,
) -> None:
    task_id = await succeeded(store, 1)
    now = time.time() + 1
    assert await store.videos.claim_copies(now, 10, "a", 30.0)
    assert await store.videos.retry(task_id, "a", "HTTP 503", now + 100) is True
    assert await store.videos.claim_copies(now + 50, 10, "b", 30.0) == []
    again = await store.videos.claim_copies(now + 101, 10, "b", 30.0)
    assert [c["video_attempts"] for c in again] == [1]
    taken_over = await store.videos.claim_copies(now + 140, 10, "c", 30.0)  # b went quiet
    assert [c["id"] for c in taken_over] == [task_id]
    await store.videos.release([task_id], "c")
    assert await store.videos.claim_copies(now + 141, 10, "d", 30.0)
    assert await store.videos.fail(task_id, "d", "not a video: text/html") is True
    row = await store.get_task(task_id)
    assert (row["video_status"], row["video_error"]) == ("failed", "not a video: text/html")
    assert len(await store.outbox.due(time.time() + 1, now - 30, 10)) == 1


async def test_backfill_and_retention(database: str) -> None:
    links_only = await open_store(database)  # REELHOOK_VIDEO_STORE=off: links only
    try:
        task_id = await succeeded(links_only, 1)
        assert (await links_only.get_task(task_id))["video_status"] == "off"
        assert len(await links_only.outbox.due(time.time() + 1, 0, 10)) == 1  # no waiting
        assert await links_only.videos.backfill() == 1
        assert await links_only.videos.backfill() == 0
        claimed = await links_only.videos.claim_copies(time.time() + 1, 10, "k", 60.0)
        copy = KeptCopy("videos/x.mp4", 10, "cd" * 32, "video/mp4")
        assert await links_only.videos.keep(claimed[0]["id"], "k", copy)
        assert await links_only.videos.kept_before("2000-01-01T00:00:00.000Z") == []
        old = await links_only.videos.kept_before("9999-01-01T00:00:00.000Z")
        assert [(r["id"], r["video_key"]) for r in old] == [(task_id, "videos/x.mp4")]
        assert await links_only.videos.mark_deleted(task_id, "deleted after 30 days")
        row = await links_only.get_task(task_id)
        assert (row["video_status"], row["video_error"]) == ("deleted", "deleted after 30 days")
    finally:
        await links_only.close()
