"""The bench harness runs end to end on a tiny load, so it cannot rot (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.databases import admin_connection, server_url

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_every_part_on_a_tiny_load(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "bench", "--generator", "python", "--connections", "4",
        "--seconds", "2", "--rounds", "2", "--warmup", "0.5", "--tasks", "3",
        "--max-requests", "200",
        "--fanout-tasks", "20", "--growth", "200,400", "--growth-seconds", "0.5",
        "--soak", "0", "--archive-mb", "4", "--cold-runs", "1", "--json", str(out),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert results["generator"] == "python"
    archive = {row["mode"]: row for row in results["archive"]}
    assert set(archive) == {"reelhook", "bare"} and "## Archive" in done.stdout
    assert all(row["megabytes"] == 4 and row["mb_per_second"] > 0 for row in archive.values())
    assert results["verified"] is True
    servers = {row["server"]: row for row in results["ingest"]}
    assert list(servers) == ["baseline", "naive", "lean", "reelhook"]
    assert all(row["acknowledged"] > 0 and row["cpu_us"] > 0 for row in servers.values())
    assert all(len(row["rounds_rps"]) == 2 for row in servers.values())
    # every server that stores was checked: all acknowledged callbacks there, none twice
    assert [servers[name]["verified"] for name in ("naive", "lean", "reelhook")] == [True] * 3
    assert servers["baseline"]["verified"] is None
    assert set(results["ratios"]) >= {
        "throughput vs lean", "p99 vs lean (at most)", "throughput vs baseline",
        "throughput vs naive",
    }
    assert [r["ok"] for r in results["fanout"]] == [True, True]
    assert all(r["ceiling_per_second"] > 0 for r in results["fanout"])
    assert [row["events"] for row in results["growth"]] == [200, 400]
    assert "## Ingest" in done.stdout and "## Fan-out" in done.stdout and "## Growth" in done.stdout
    assert "| lean |" in done.stdout and "bare aiohttp client" in done.stdout
    cold = results["cold"]
    assert [len(cold[kind]) for kind in ("serve", "bare", "tick", "nothing")] == [1] * 4
    assert "## Cold start" in done.stdout and "cold start" in "\n".join(results["targets"])


async def test_bench_on_postgres_runs_every_new_path_on_a_tiny_load(tmp_path: Path) -> None:
    await (await admin_connection()).close()  # skips (or fails with CI=true) without a server
    out = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "bench", "--generator", "python", "--connections", "4",
        "--seconds", "1", "--rounds", "2", "--warmup", "0.2", "--tasks", "3",
        "--max-requests", "200", "--fanout-tasks", "20", "--soak", "0",
        "--parts", "ingest", "--database", "postgres", "--json", str(out),
    ]
    env = {**os.environ, "REELHOOK_BENCH_DATABASE_URL": server_url()}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert results["verified"] is True, done.stdout
    # the interleaved ingest table's fifth row: reelhook on PostgreSQL, checked there
    servers = {row["server"]: row for row in results["ingest"]}
    assert list(servers) == ["baseline", "naive", "lean", "reelhook", "reelhook (postgres)"]
    ours = servers["reelhook (postgres)"]
    assert ours["verified"] is True and ours["acknowledged"] > 0 and len(ours["rounds_rps"]) == 2
    assert ours["database_cpu_us"] is not None and servers["reelhook"]["database_cpu_us"] is None
    assert "throughput vs lean" in results["ratios_postgres"]
    assert "| reelhook (postgres) |" in done.stdout
    databases = results["databases"]
    assert [row["database"] for row in databases["ingest"]] == ["sqlite", "postgres"]
    assert all(row["acknowledged"] > 0 for row in databases["ingest"]), done.stdout
    # fan-out on each database, against the bare client's ceiling of the same run
    assert [(r["database"], r["workers"]) for r in databases["fanout"]] == [
        ("sqlite", 1), ("postgres", 1), ("postgres", 2), ("postgres", 4)]
    assert all(r["accepted_once"] == 20 and r["accepted_twice"] == 0 for r in databases["fanout"])
    assert all(r["ceiling_per_second"] > 0 for r in databases["fanout"])
    # WEB_CONCURRENCY=2 against one web process, both checked; the second's CPU counts its
    # web processes (children of serve), not only the idle parent
    web = databases["web_processes"]
    assert [row["server"] for row in web] == [
        "reelhook, WEB_CONCURRENCY=1", "reelhook, WEB_CONCURRENCY=2"]
    assert all(row["verified"] is True and row["acknowledged"] > 0 for row in web)
    assert web[1]["cpu_us"] > 0.2 * web[0]["cpu_us"]
    assert databases["web_ratios"]["callbacks/s"] > 0
    assert databases["notify_latency"]["p50_ms"] > 0


def test_bench_is_not_part_of_the_installed_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'include = ["receiver*", "dispatcher*", "store*"]' in pyproject


def test_the_retention_year_runs_and_pruning_keeps_the_file_small() -> None:
    command = [sys.executable, "-m", "bench.retention_year", "--days", "8", "--keep-days", "2",
               "--every", "4", "--tasks-per-day", "20", "--events-per-task", "20"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split("|")[1:6] for line in done.stdout.splitlines()
            if line.startswith("| ") and line[2].isdigit()]
    assert [int(day) for day, *_ in rows] == [4, 8]
    (_, pruned, kept_events, whole, all_events) = rows[-1]
    assert int(all_events.replace(",", "")) == 8 * 20 * 20
    assert int(kept_events.replace(",", "")) <= 3 * 20 * 20  # the last two days and a bit
    assert float(pruned) < float(whole) * 0.6  # the space given back
