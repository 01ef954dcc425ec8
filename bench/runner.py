"""The bench runner: parse options, run each part, print Markdown and write JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import cold_start, load_wrk, report
from bench.archive import archive_table, run_archive
from bench.config import BenchConfig
from bench.fanout import fanout_table, fanout_verdict, run_fanout
from bench.growth import growth_table, run_growth
from bench.ingest import ON_POSTGRES, run_ingest


def main(argv: Sequence[str] | None = None) -> int:
    """Run the parts asked for; the exit status is 1 if a verification failed."""
    args = build_parser().parse_args(argv)
    config = config_from(args)
    print(f"load generator: {config.generator}", flush=True)
    if config.generator == "python" and args.generator == "auto":
        print("wrk not found: using the Python generator (install: apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="reelhook-bench-") as tmp:
        results = asyncio.run(
            run_all(config, Path(tmp), args.parts, args.archive_mb, args.cold_runs)
        )
        if config.database == "postgres":
            results["databases"] = asyncio.run(_databases(config, Path(tmp)))
            results["verified"] &= results["databases"]["verified"]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if results.get("verified", True) else 1


def build_parser() -> argparse.ArgumentParser:
    """Options of python -m bench."""
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--connections", type=int, default=defaults.connections)
    parser.add_argument("--seconds", type=float, default=defaults.seconds)
    parser.add_argument(
        "--rounds", type=int, default=defaults.rounds,
        help="interleaved runs each server's measured seconds are cut into",
    )
    parser.add_argument("--warmup", type=float, default=defaults.warmup_seconds)
    parser.add_argument("--tasks", type=int, default=defaults.tasks)
    parser.add_argument("--max-requests", type=int, default=defaults.max_requests)
    parser.add_argument(
        "--soak", type=int, default=defaults.soak_callbacks,
        help="keep loading reelhook until this many callbacks before reading its peak memory",
    )
    parser.add_argument("--fanout-tasks", type=int, default=defaults.fanout_tasks)
    parser.add_argument(
        "--growth", default=",".join(str(n) for n in defaults.growth_sizes),
        help="stored-event counts to measure at, comma separated",
    )
    parser.add_argument("--growth-seconds", type=float, default=defaults.growth_seconds)
    parser.add_argument(
        "--parts", default="ingest,fanout,cold,growth,archive",
        help="which parts to run, comma separated (also: cold)",
    )
    parser.add_argument(
        "--archive-mb", type=int, default=1024,
        help="size of the video the archive part keeps (MiB)",
    )
    parser.add_argument(
        "--database", choices=("sqlite", "postgres"), default="sqlite",
        help="postgres: also measure ingest and fan-out on PostgreSQL beside SQLite"
        " (bench/databases.py; the server at REELHOOK_BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--cold-runs", type=int, default=10,
        help="cold starts of serve and of an idle tick, each beside its reference",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    return parser


def config_from(args: argparse.Namespace) -> BenchConfig:
    """The BenchConfig the options describe."""
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if load_wrk.available() else "python"
    return BenchConfig(
        generator=generator,
        database=args.database,
        connections=args.connections,
        seconds=args.seconds,
        rounds=max(1, args.rounds),
        warmup_seconds=args.warmup,
        tasks=args.tasks,
        max_requests=args.max_requests,
        soak_callbacks=args.soak,
        fanout_tasks=args.fanout_tasks,
        growth_sizes=tuple(int(n) for n in args.growth.split(",") if n),
        growth_seconds=args.growth_seconds,
    )


async def run_all(
    config: BenchConfig, workdir: Path, parts: str, archive_mb: int = 1024, cold_runs: int = 10
) -> dict[str, Any]:
    """Run the chosen parts in order and print each one's tables as it finishes."""
    results: dict[str, Any] = {"generator": config.generator, "verified": True}
    chosen = set(parts.split(","))
    if "ingest" in chosen:
        started = time.monotonic()
        (workdir / "ingest").mkdir()
        figures = await run_ingest(config, workdir / "ingest")
        values = report.ratios(figures)
        tables = [report.ingest_table(figures), report.ratio_table(values)]
        if any(f.name == ON_POSTGRES for f in figures):
            results["ratios_postgres"] = report.ratios(figures, ON_POSTGRES)
            tables.append(report.ratio_table(results["ratios_postgres"], ON_POSTGRES))
        _print(f"## Ingest ({config.generator}, {config.connections} connections,"
               f" {config.seconds:g} s per server)", *tables,
               f"(took {time.monotonic() - started:.0f} s)")
        results["targets"] = report.targets_summary(figures, values)
        results["ingest"] = report.as_json(figures)
        results["ratios"] = values
        results["verified"] &= all(f.verdict.ok for f in figures if f.verdict)
    if "fanout" in chosen:
        results["fanout"] = await _fanout(config, workdir / "fanout")
        results["verified"] &= all(r["ok"] for r in results["fanout"])
        results.setdefault("targets", []).append(
            f"- {results['fanout'][0]['verdict']}; all delivered, none accepted twice:"
            f" {'met' if all(r['ok'] for r in results['fanout']) else 'NOT met'}"
        )
    if "cold" in chosen:
        cold = await asyncio.to_thread(cold_start.measure, cold_runs)
        _print(f"## Cold start ({cold_runs} runs each, interleaved)", cold.table())
        results["cold"] = asdict(cold) | {"serve_ratio": cold.serve_ratio,
                                          "idle_tick": cold.idle_tick}
        results.setdefault("targets", []).extend(cold.targets())
    if results.get("targets"):
        _print("## Targets", "\n".join(results["targets"]))
    if "growth" in chosen:
        results["growth"] = await _growth(config, workdir / "growth")
    if "archive" in chosen:
        results["archive"] = await _archive(workdir / "archive", archive_mb)
    return results


async def _archive(workdir: Path, megabytes: int) -> list[dict[str, Any]]:
    workdir.mkdir()
    started = time.monotonic()
    rows = await run_archive(workdir, megabytes)
    _print(f"## Archive (a {megabytes:,} MiB video kept, against a bare streaming copy)",
           archive_table(rows), f"(took {time.monotonic() - started:.0f} s)")
    return [asdict(row) | {"mb_per_second": row.mb_per_second, "cpu_per_gb": row.cpu_per_gb}
            for row in rows]


async def _fanout(config: BenchConfig, workdir: Path) -> list[dict[str, Any]]:
    workdir.mkdir()
    started = time.monotonic()
    rounds = [
        await run_fanout(workdir, config.fanout_tasks, 0.0, "answers at once"),
        await run_fanout(workdir, config.fanout_tasks, 0.5, "refuses half (500)"),
    ]
    _print(f"## Fan-out ({config.fanout_tasks:,} finished tasks, one webhook each)",
           fanout_table(rounds), fanout_verdict(rounds),
           f"(took {time.monotonic() - started:.0f} s)")
    verdict = fanout_verdict(rounds)
    return [
        asdict(r) | {"per_second": r.per_second, "of_ceiling": r.of_ceiling, "ok": r.ok,
                     "verdict": verdict}
        for r in rounds
    ]


async def _growth(config: BenchConfig, workdir: Path) -> list[dict[str, Any]]:
    workdir.mkdir()
    started = time.monotonic()
    rows = await run_growth(config, workdir)
    _print(f"## Growth ({config.generator}, {config.growth_seconds:g} s of callbacks per size)",
           growth_table(rows), f"(took {time.monotonic() - started:.0f} s)")
    return [asdict(row) for row in rows]


async def _databases(config: BenchConfig, workdir: Path) -> dict[str, Any]:
    from bench.databases import run_databases

    (workdir / "databases").mkdir()
    print(f"## SQLite beside PostgreSQL ({config.connections} connections,"
          f" {config.seconds:g} s of callbacks; {config.fanout_tasks:,} notices)", flush=True)
    return await run_databases(config, workdir / "databases")


def _print(*blocks: str) -> None:
    print("\n\n".join(blocks), flush=True)
    sys.stdout.flush()
