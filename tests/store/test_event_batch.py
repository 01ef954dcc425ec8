"""Events recorded a batch at a time come out exactly as recorded one by one; a batch with a
duplicate or an unknown task falls back to one by one, and the writer keeps every other job."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import EventIn, NewDestination, NewTask, Observation, TaskNotFound, open_store
from store.plans.tasks import insert_task
from store.sqlite.driver import result_of
from store.sqlite.event_batch import AlreadyStored, RecordEvents
from store.sqlite.schema import connect, migrate

NOTIFY = frozenset({"succeeded", "failed"})
TASKS = ("tsk_a", "tsk_b", "tsk_c")
OBSERVATIONS = st.builds(
    Observation,
    status=st.sampled_from([None, "queued", "running", "succeeded", "failed", "cancelled"]),
    progress=st.one_of(st.none(), st.integers(-5, 120)),
    video_url=st.sampled_from([None, "https://v/1.mp4"]),
    error=st.sampled_from([None, "boom"]),
)
EVENTS = st.lists(
    st.tuples(st.sampled_from(TASKS), OBSERVATIONS, st.booleans()), min_size=1, max_size=12
)


def fresh(path: Path) -> sqlite3.Connection:
    migrate(str(path))
    conn = connect(str(path))
    hook = NewDestination("webhook", "sealed", "http://127.0.0.1/…", "route")
    conn.execute("BEGIN")
    for task_id in TASKS:
        new = NewTask(task_id, "piapi", "Qubico/skyreels", {}, destinations=(hook,))
        result_of(conn, insert_task(new))
    conn.execute("COMMIT")
    return conn


def snapshot(conn: sqlite3.Connection) -> list[list[Any]]:
    tables = [
        "SELECT id, status, progress, video_url, error, provider_task_id, submit_state FROM tasks",
        "SELECT task_id, dedupe_key, source, status, progress, payload FROM events",
        "SELECT task_id, state, destination_id, status FROM deliveries",
    ]
    return [[tuple(row) for row in conn.execute(f"{q} ORDER BY 1, 2")] for q in tables]


def comparable(outcome: Any) -> tuple[Any, ...]:
    moving = ("created_at", "updated_at", "last_event_at")  # clock readings
    task = {k: v for k, v in outcome.task.items() if k not in moving}
    return outcome.recorded, outcome.changed, outcome.notices_queued, outcome.slot_freed, task


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(EVENTS)
def test_a_batch_ends_as_the_same_events_one_by_one(tmp_path: Path, steps: list[Any]) -> None:
    kind = RecordEvents(NOTIFY)
    items = [
        (task_id, EventIn(f"k{i}", "callback", seen, "st", f'{{"n":{i}}}', f"p-{task_id}", poll))
        for i, (task_id, seen, poll) in enumerate(steps)
    ]
    one, many = fresh(tmp_path / f"one-{len(steps)}.db"), fresh(tmp_path / f"many-{len(steps)}.db")
    try:
        one.execute("BEGIN")
        singles = [kind.run_one(one, item) for item in items]
        one.execute("COMMIT")
        many.execute("BEGIN")
        together = kind.run_many(many, items)
        many.execute("COMMIT")
        assert [comparable(o) for o in together] == [comparable(o) for o in singles]
        assert snapshot(many) == snapshot(one)
    finally:
        one.close()
        many.close()
        for path in tmp_path.glob("*.db*"):
            path.unlink()


def test_a_duplicate_in_the_batch_is_left_to_the_one_by_one_path(tmp_path: Path) -> None:
    conn = fresh(tmp_path / "dup.db")
    event = EventIn("same", "callback", Observation("running", 10))
    conn.execute("BEGIN")
    with pytest.raises(AlreadyStored):
        RecordEvents(NOTIFY).run_many(conn, [("tsk_a", event), ("tsk_b", event), ("tsk_a", event)])
    conn.execute("ROLLBACK")
    with pytest.raises(TaskNotFound):
        RecordEvents(NOTIFY).run_many(conn, [("tsk_a", event), ("tsk_nope", event)])
    conn.close()


async def test_concurrent_events_through_the_store_each_get_their_own_answer(
    database: str,
) -> None:
    """On both databases: events that wait together are written as one batch."""
    store = await open_store(database)
    try:
        for task_id in TASKS:
            await store.create_task(NewTask(task_id, "piapi", "Qubico/skyreels", {}))
        calls = [
            store.record_event(TASKS[i % 40 % 3], EventIn(f"k{i % 40}", "callback",
                                                      Observation("running", i)))
            for i in range(60)
        ] + [store.record_event("tsk_missing", EventIn("x", "callback", Observation("running")))]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert isinstance(results[-1], TaskNotFound)
        recorded = [r.recorded for r in results[:-1] if not isinstance(r, BaseException)]
        assert len(recorded) == 60 and sum(recorded) == 40
        events = {t: await store.task_events(t) for t in TASKS}
        assert sum(len(e) for e in events.values()) == 40
        assert all(len({e["id"] for e in evs}) == len(evs) for evs in events.values())
        for task_id in TASKS:
            task = await store.get_task(task_id)
            assert task["status"] == "running"
            assert task["progress"] == max(e["progress"] for e in events[task_id])
    finally:
        await store.close()


def test_an_event_that_moves_only_the_clocks_still_moves_them(tmp_path: Path) -> None:
    conn = fresh(tmp_path / "clocks.db")
    kind = RecordEvents(NOTIFY)
    clocks = "SELECT status, progress, updated_at, last_event_at FROM tasks WHERE id = 'tsk_a'"
    conn.execute("BEGIN")
    kind.run_many(conn, [("tsk_a", EventIn("k1", "callback", Observation("running", 10)))])
    conn.execute("COMMIT")
    before = conn.execute(clocks).fetchone()
    time.sleep(0.01)
    conn.execute("BEGIN")
    kind.run_many(conn, [("tsk_a", EventIn("k2", "callback", Observation("running", 5)))])
    conn.execute("COMMIT")
    after = conn.execute(clocks).fetchone()
    assert (after["status"], after["progress"]) == (before["status"], before["progress"])
    assert after["updated_at"] > before["updated_at"]
    assert after["last_event_at"] > before["last_event_at"]
    conn.close()


def test_a_kept_request_is_dropped_once_the_provider_has_the_task(tmp_path: Path) -> None:
    """A request kept sealed for a resend goes at the first event after the provider task id is
    known, even when that event changes nothing else."""
    conn = fresh(tmp_path / "held.db")
    conn.execute("UPDATE tasks SET held_request = 'sealed', provider_task_id = 'p-tsk_a',"
                 " submit_state = 'sent' WHERE id = 'tsk_a'")
    conn.execute("BEGIN")
    RecordEvents(NOTIFY).run_many(conn, [("tsk_a", EventIn("k1", "callback", Observation()))])
    conn.execute("COMMIT")
    row = conn.execute("SELECT held_request FROM tasks WHERE id = 'tsk_a'").fetchone()
    assert row["held_request"] is None
    conn.close()
