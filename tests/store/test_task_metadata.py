"""The metadata search reads an index on both databases: each task's top-level metadata values
in a table of their own, written with the task, and copied for tasks recorded before it."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import asyncpg

from store import NewTask, TaskSearch, is_postgres, open_store
from store.postgres.schema import migrate as migrate_postgres
from store.sqlite.schema import migrate
from tests.databases import fresh_postgres

METADATA = {"user": "u-42", "vip": True, "seats": 3, "ratio": 0.5, "none": None,
            "big": 1e20, "tiny": 1e-07, "third": 1 / 3, "neg0": -0.0, "huge": 2**70,
            "tags": ["a"], "nested": {"x": 1}}
SEARCHED = {"user": "u-42", "vip": "true", "seats": "3", "ratio": "0.5", "none": "null",
            "big": "1e+20", "tiny": "1e-07", "third": "0.3333333333333333", "neg0": "-0.0",
            "huge": str(2**70)}


async def found(database: str, **wanted: str) -> list[str]:
    store = await open_store(database)
    try:
        search = TaskSearch(metadata=tuple(wanted.items()))
        return [task["id"] for task in await store.list_tasks(search=search)]
    finally:
        await store.close()


async def test_values_are_found_as_text_whatever_their_json_type(database: str) -> None:
    store = await open_store(database)
    try:
        await store.create_task(NewTask("tsk_" + "1" * 28, "wave", "m", {}, metadata=METADATA))
        await store.create_task(NewTask("tsk_" + "2" * 28, "wave", "m", {},
                                        metadata={"user": "u-7"}))
    finally:
        await store.close()
    one = ["tsk_" + "1" * 28]
    assert await found(database, user="u-42") == one
    assert await found(database, vip="true") == one
    assert await found(database, seats="3") == one
    assert await found(database, ratio="0.5") == one
    assert await found(database, none="null") == one
    assert await found(database, user="u-42", seats="4") == []
    assert await found(database, big="1e+20", huge=str(2**70)) == one
    assert await found(database, tags='["a"]') == []  # lists and objects are not searched
    assert len(await found(database)) == 2


async def test_tasks_recorded_before_the_index_are_found(database: str, tmp_path: Path) -> None:
    """The migration's copy of earlier tasks' metadata gives what new tasks get."""
    store = await open_store(database)
    try:
        await store.create_task(NewTask("tsk_" + "1" * 28, "wave", "m", {}, metadata=METADATA))
    finally:
        await store.close()
    if is_postgres(database):
        conn = await asyncpg.connect(database)
        try:
            written = await conn.fetch("SELECT key, value FROM task_metadata")
        finally:
            await conn.close()
        assert {r["key"]: r["value"] for r in written} == SEARCHED  # with the task
        async with fresh_postgres(migrate=False) as old:
            conn = await asyncpg.connect(old)
            try:
                await migrate_postgres(conn, stop_before="m013_task_metadata")
                await conn.execute(
                    "INSERT INTO tasks (id, provider, model, status, progress, created_at,"
                    " updated_at, metadata) VALUES ('tsk_old', 'wave', 'm', 'queued', 0,"
                    " '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', $1)",
                    json.dumps(METADATA))
                await migrate_postgres(conn)
                rows = await conn.fetch("SELECT key, value FROM task_metadata ORDER BY key")
            finally:
                await conn.close()
        copied = {row["key"]: row["value"] for row in rows}
    else:
        old = str(tmp_path / "old.db")
        migrate(old, stop_before="m013_task_metadata")
        with contextlib.closing(sqlite3.connect(old)) as conn:
            conn.execute("INSERT INTO tasks (id, provider, model, status, progress, created_at,"
                         " updated_at, metadata) VALUES ('tsk_old', 'wave', 'm', 'queued', 0, 'x',"
                         " 'x', ?)", (json.dumps(METADATA),))
            conn.commit()
        migrate(old)
        with contextlib.closing(sqlite3.connect(old)) as conn:
            copied = dict(conn.execute("SELECT key, value FROM task_metadata"))
    assert copied == SEARCHED  # as new tasks get them


async def test_a_nul_in_metadata_is_kept_in_the_task_but_not_searched(database: str) -> None:
    """SQLite keeps the NUL; PostgreSQL's jsonb cannot hold one, so there it is U+FFFD."""
    store = await open_store(database)
    try:
        metadata = {"user": "u-1", "nul\x00key": "v", "note": "a\x00b"}
        task, _ = await store.create_task(NewTask("tsk_" + "3" * 28, "wave", "m", {},
                                                  metadata=metadata))
        nul = "\ufffd" if is_postgres(database) else "\x00"
        assert json.loads(task["metadata"]) == {"user": "u-1", f"nul{nul}key": "v",
                                                "note": f"a{nul}b"}
    finally:
        await store.close()
    assert await found(database, user="u-1") == ["tsk_" + "3" * 28]


def test_the_search_reads_the_index_on_sqlite(tmp_path: Path) -> None:
    path = str(tmp_path / "r.db")
    migrate(path)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM tasks WHERE id IN (SELECT task_id FROM"
            " task_metadata WHERE key = 'user' AND value = 'u-42') ORDER BY id DESC LIMIT 50"
        ).fetchall()
    assert "idx_task_metadata_key_value" in str(plan), plan
