"""The bench harness runs end to end on a tiny load, so it cannot rot (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_every_part_on_a_tiny_load(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "bench", "--generator", "python", "--connections", "4",
        "--seconds", "2", "--rounds", "2", "--warmup", "0.5", "--tasks", "3",
        "--max-requests", "200",
        "--fanout-tasks", "20", "--growth", "200,400", "--growth-seconds", "0.5",
        "--soak", "0", "--json", str(out),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert results["generator"] == "python"
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


def test_bench_is_not_part_of_the_installed_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'include = ["receiver*", "dispatcher*", "store*"]' in pyproject
