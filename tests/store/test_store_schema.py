"""The schema upgrades an old file in place, the writer commits in groups, and commits reach the
file through background checkpoints."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from store import EventIn, NewTask, Observation, SqliteStore
from store.migrations import MIGRATION_NAMES
from store.sqlite.checkpointer import CHECKPOINT_COMMITS
from store.sqlite.schema import migrate
from tests.helpers import until

FIRST = "m001_tasks_events_deliveries"


def _columns(path: str, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


async def test_file_from_first_schema_upgrades_in_place(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    second = MIGRATION_NAMES[1]
    assert migrate(path, stop_before=second) == [FIRST]
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO tasks (id, provider, model, status, progress, created_at, updated_at)"
            " VALUES ('tsk_old', 'piapi', 'Qubico/skyreels', 'running', 40, 't', 't')"
        )
    assert "submit_state" not in _columns(path, "tasks")

    store = await SqliteStore.open(path)
    try:
        task = await store.get_task("tsk_old")
        assert (task["status"], task["progress"], task["submit_state"]) == (
            "running",
            40,
            "pending",
        )
        outcome = await store.record_event(
            "tsk_old", EventIn("k1", "poll", Observation("succeeded", video_url="https://v/1.mp4"))
        )
        assert outcome.task["status"] == "succeeded"
    finally:
        await store.close()
    assert {"destinations", "attempts"} <= _tables(path)
    assert migrate(path) == []
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _tables(path: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


async def test_concurrent_events_commit_once_each(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "group.db"))
    try:
        await store.create_task(NewTask("tsk_a", "piapi", "Qubico/skyreels", {}))
        events = [
            EventIn(f"key-{i % 50}", "callback", Observation("running", progress=i))
            for i in range(200)
        ]
        outcomes = await asyncio.gather(*(store.record_event("tsk_a", e) for e in events))
        assert sum(o.recorded for o in outcomes) == 50
        assert len(await store.task_events("tsk_a")) == 50
        assert (await store.get_task("tsk_a"))["progress"] == 49
    finally:
        await store.close()


async def test_a_failing_write_spoils_only_itself(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "iso.db"))
    try:
        good = store.create_task(NewTask("tsk_good", "piapi", "m", {}))
        missing = store.record_event("tsk_nope", EventIn("k", "poll"))
        results = await asyncio.gather(good, missing, return_exceptions=True)
        assert isinstance(results[1], Exception)
        assert (await store.get_task("tsk_good"))["id"] == "tsk_good"
    finally:
        await store.close()


async def test_commits_reach_the_database_file_without_a_writer_checkpoint(
    tmp_path: Path,
) -> None:
    """The checkpointer thread copies committed pages from the WAL into the file after every
    CHECKPOINT_COMMITS commits, far below the writer's own checkpoint (WAL_CHECKPOINT_PAGES)."""
    path = tmp_path / "c.db"
    store = await SqliteStore.open(str(path))
    try:
        for n in range(CHECKPOINT_COMMITS):  # one commit each
            await store.create_task(NewTask(f"tsk_{n:04d}", "piapi", "Qubico/skyreels", {}))

        def in_file_alone() -> bool:
            copy = tmp_path / "copy.db"  # the file without its WAL, as after losing the WAL
            copy.write_bytes(path.read_bytes())
            conn = sqlite3.connect(copy)
            try:
                return int(conn.execute("SELECT count(*) FROM tasks").fetchone()[0]) > 0
            finally:
                conn.close()

        await until(in_file_alone, timeout=5)
    finally:
        await store.close()


async def test_a_new_database_file_and_its_journal_are_readable_by_their_owner_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new.db"
    previous = os.umask(0o022)  # the usual umask, which would leave the file world-readable
    try:
        store = await SqliteStore.open(str(path))
        try:
            task = NewTask("tsk_" + "a" * 28, "piapi", "Qubico/skyreels", {"prompt": "p"})
            await store.create_task(task)
            journal = Path(f"{path}-wal")
            assert journal.exists()
            assert stat.S_IMODE(journal.stat().st_mode) == 0o600
        finally:
            await store.close()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_up_to_date_file_opens_without_the_migration_steps(tmp_path: Path) -> None:
    """Every start after the first knows a current file from its record alone: neither the
    steps nor sqlite-utils are imported (~30 ms of each cold start)."""
    path = str(tmp_path / "current.db")
    migrate(path)
    check = ("import sys; from store.sqlite.schema import migrate, applied_migrations;"
             f" assert migrate({path!r}) == [];"
             f" assert len(applied_migrations({path!r})) == {len(MIGRATION_NAMES)};"
             " assert 'sqlite_utils' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", check], check=True)
