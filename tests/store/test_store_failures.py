"""The store fails loudly: a database that cannot be opened stops the start with one line, and a
writer thread that dies turns every waiting and later write into a clear error (503 over HTTP)
that /healthz reports, instead of leaving callers waiting forever."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dispatcher.attempt_log import write_attempts
from receiver import keys
from receiver.sandbox.sinks import Answer
from receiver.services.secrets import new_fernet_key
from store import EventIn, NewDestination, NewTask, Observation, SqliteStore, WriterStopped
from store.plans.outbox import AttemptRecord
from store.sqlite.writer import Writer
from tests.helpers import API_TOKEN, FAST_POLLS, FAST_RETRIES, apimart, skyreels, until

NO_HANG = 10.0  # a hang would be forever; how fast it fails is measured in bench/, not here


def close_connection(conn: sqlite3.Connection) -> None:
    """A write that breaks the writer's own connection, as a crash inside the thread would."""
    conn.close()


@pytest.mark.parametrize("kind", ["not a database", "a directory"])
def test_unopenable_database_stops_the_start_with_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "reelhook.db"
    if kind == "a directory":
        path.mkdir()
    else:
        path.write_bytes(b"this is no SQLite file; " * 40)
    env = {
        "PATH": "/usr/bin:/bin",
        "REELHOOK_DATABASE": str(path),
        "REELHOOK_API_TOKEN": API_TOKEN,
        "REELHOOK_SECRET_KEY": new_fernet_key(),
        "REELHOOK_HOST": "127.0.0.1",
        "PORT": "1",  # never bound: the start stops before listening
    }
    done = subprocess.run(
        [sys.executable, "-m", "receiver", "serve"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"reelhook: cannot open the database {path}: ")


async def test_writer_that_dies_turns_writes_into_503_and_healthz_says_so(
    start_app: Any, piapi_sim: Any
) -> None:
    client = await start_app()
    assert (await client.get("/healthz")).status == 200
    store = client.app[keys.STORE]
    with pytest.raises(WriterStopped, match="writer died"):
        await asyncio.wait_for(store.writer.run(close_connection), NO_HANG)
    answer = await asyncio.wait_for(client.post("/v1/tasks", json=skyreels()), NO_HANG)
    assert answer.status == 503
    error = (await answer.json())["error"]
    assert error["code"] == "unavailable" and "writer died" in error["message"]
    assert answer.headers["Retry-After"] == "1"
    health = await client.get("/healthz")
    assert health.status == 503
    body = await health.json()
    assert body["ok"] is False and "writer died" in body["error"]
    assert piapi_sim.received == []


async def test_writes_waiting_when_the_writer_dies_fail_at_once(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "w.db"))
    writer = store.writer
    entered, go_on = threading.Event(), threading.Event()

    def stall_then_break(conn: sqlite3.Connection) -> None:
        entered.set()
        go_on.wait()
        conn.close()

    try:
        breaking = asyncio.ensure_future(writer.run(stall_then_break))
        await asyncio.to_thread(entered.wait)
        waiting = [
            asyncio.ensure_future(store.create_task(NewTask(f"tsk_{i}", "piapi", "m", {})))
            for i in range(3)
        ]
        await asyncio.sleep(0)  # let each hand its write over; the writer is still stalled
        go_on.set()
        results = await asyncio.wait_for(
            asyncio.gather(breaking, *waiting, return_exceptions=True), NO_HANG
        )
        assert all(isinstance(result, WriterStopped) for result in results), results
        assert writer.failure is not None and "writer died" in writer.failure
        with pytest.raises(WriterStopped):
            await writer.run(lambda conn: None)
    finally:
        await store.close()


async def test_writer_that_cannot_open_its_file_refuses_to_start(tmp_path: Path) -> None:
    writer = Writer(str(tmp_path))  # a directory, not a database file
    with pytest.raises(WriterStopped, match="cannot open"):
        await asyncio.to_thread(writer.start)
    with pytest.raises(WriterStopped):
        await writer.run(lambda conn: None)


async def test_a_bug_in_recording_an_attempt_is_raised_not_retried_and_spoils_only_its_send(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(str(tmp_path / "a.db"))
    try:
        destination = NewDestination("webhook", "sealed", "hook", "route")
        await store.create_task(NewTask("tsk_" + "1" * 28, "piapi", "Qubico/skyreels", {},
                                        destinations=(destination,)))
        done = Observation("succeeded", 100, "https://videos.example.com/v.mp4")
        await store.record_event("tsk_" + "1" * 28, EventIn("done", "poll", done))
        now = time.time() + 1
        [due] = await store.outbox.due(now, now - 30, 10)
        assert await store.outbox.claim([due["delivery_id"]], "me", now, now - 30)
        # An attempt at a delivery that does not exist: only a bug of ours records one.
        broken = AttemptRecord(999, 0.0, 1.0, "delivered")
        good = AttemptRecord(due["delivery_id"], 0.0, 1.0, "delivered")
        with pytest.raises(sqlite3.IntegrityError):
            await asyncio.wait_for(write_attempts(store.outbox, [[broken], [good]], "me"), NO_HANG)
        [delivery] = await store.outbox.deliveries()
        assert delivery["status"] == "delivered"  # the other send's record is in all the same
    finally:
        await store.close()


async def test_background_loops_stop_once_the_writer_is_dead(
    start_app: Any, apimart_sim: Any, webhook_sink: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A task polled forever, and a notice that keeps failing: the poller and the dispatcher both
    # keep writing, until the writer dies. Then each says so once and stops, and the app still
    # shuts down cleanly (the fixture's teardown).
    caplog.set_level(logging.CRITICAL)
    apimart_sim.script.never_finish = True
    webhook_sink.script = [Answer(500)] * 1000
    client = await start_app(
        **{**FAST_RETRIES, "retry_schedule": (0.05,) * 40}, **FAST_POLLS,
        notify_on=frozenset({"running"}),
    )
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret}]
    await client.post("/v1/tasks", json=apimart(notify=notify))
    await webhook_sink.wait_until(lambda: len(webhook_sink.received) >= 2)
    with pytest.raises(WriterStopped):
        await client.app[keys.STORE].writer.run(close_connection)

    def stopped(what: str) -> bool:
        return any(what in r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL)

    await until(lambda: stopped("the poller loop ended") and stopped("the dispatcher loop ended"),
                what="the poller and the dispatcher stopping")
