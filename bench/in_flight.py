"""The in-flight check of a capped provider against its history (issue 24.5).

`python -m bench.in_flight [--tasks 200000]` fills a fresh SQLite file with that many finished
Wave tasks, then times `claim_slot` (the count of the provider's tasks in flight and the check
for earlier waiting ones, run in the writer's transaction of every submit) for 30 new tasks,
with the unfinished-tasks index (m012) and with it dropped. Figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from store import NewTask, open_store

SAMPLES = 30


async def claim_ms(path: str, history: int, drop_index: bool) -> float:
    """The median ms of `claim_slot` for a new task beside `history` finished ones."""
    await (await open_store(path)).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executemany(
            "INSERT INTO tasks (id, provider, model, status, progress, created_at, updated_at,"
            " request, submit_state) VALUES (?, 'wave', 'm', 'succeeded', 100, 'x', 'x', '{}',"
            " 'sent')", [(f"tsk_{n:028d}",) for n in range(history)])
        if drop_index:
            conn.execute("DROP INDEX idx_tasks_in_flight")
        conn.commit()
    store = await open_store(path)
    try:
        times = []
        for n in range(SAMPLES):
            task_id = f"tsk_f{n:027d}"
            await store.create_task(NewTask(task_id, "wave", "m", {}))
            began = time.perf_counter()
            await store.submits.claim_slot(task_id, "wave", 1000, owner="bench")
            times.append((time.perf_counter() - began) * 1000)
        return statistics.median(times)
    finally:
        await store.close()


def main() -> int:
    """Time both and print them."""
    parser = argparse.ArgumentParser(prog="python -m bench.in_flight", description=__doc__)
    parser.add_argument("--tasks", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelhook-in-flight-") as tmp:
        without = asyncio.run(claim_ms(str(Path(tmp) / "a.db"), args.tasks, True))
        with_index = asyncio.run(claim_ms(str(Path(tmp) / "b.db"), args.tasks, False))
    print(f"claim_slot beside {args.tasks:,} finished tasks (median of {SAMPLES}):"
          f" {without:.2f} ms without the index, {with_index:.2f} ms with it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
