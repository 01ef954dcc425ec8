"""`python -m bench --database postgres` runs end to end on a tiny load (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.databases import admin_connection, server_url

ROOT = Path(__file__).resolve().parent.parent


async def test_bench_measures_both_databases_side_by_side(tmp_path: Path) -> None:
    await (await admin_connection()).close()  # skips (or fails with CI=true) without a server
    out = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "bench", "--generator", "python", "--connections", "4",
        "--seconds", "1", "--tasks", "3", "--max-requests", "200", "--fanout-tasks", "20",
        "--parts", "none", "--database", "postgres", "--json", str(out),
    ]
    env = {**os.environ, "REELHOOK_BENCH_DATABASE_URL": server_url()}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())["databases"]
    assert results["verified"] is True, done.stdout
    assert [row["database"] for row in results["ingest"]] == ["sqlite", "postgres"]
    assert all(row["acknowledged"] > 0 for row in results["ingest"]), done.stdout
    assert [(r["database"], r["workers"]) for r in results["fanout"]] == [
        ("sqlite", 1), ("postgres", 1), ("postgres", 2), ("postgres", 4)]
    assert all(r["accepted_once"] == 20 and r["accepted_twice"] == 0 for r in results["fanout"])
    assert results["notify_latency"]["p50_ms"] > 0
