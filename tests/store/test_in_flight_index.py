"""A capped provider's in-flight count reads its unfinished tasks only (an index), not every
task it ever had: the count runs in the writer's transaction of every submit."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from store import open_store
from store.plans.submits import IN_FLIGHT, WAITING


async def test_the_in_flight_count_and_the_waiting_check_use_the_unfinished_index(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "r.db")
    await (await open_store(path)).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executemany(
            "INSERT INTO tasks (id, provider, model, status, progress, created_at, updated_at,"
            " request, submit_state) VALUES (?, 'wave', 'm', 'succeeded', 100, 'x', 'x', '{}',"
            " 'sent')", [(f"tsk_{n:028d}",) for n in range(2000)])
        conn.commit()
        for query in (
            f"SELECT count(*) FROM tasks WHERE provider = :p AND {IN_FLIGHT} AND id != :id",
            f"SELECT EXISTS (SELECT 1 FROM tasks WHERE provider = :p AND id < :id AND"
            f" {WAITING})",
        ):
            plan = conn.execute(f"EXPLAIN QUERY PLAN {query}",
                                {"p": "wave", "id": "tsk_x", "now": 1.0}).fetchall()
            assert "USING INDEX idx_tasks_in_flight" in str(plan), plan
