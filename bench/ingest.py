"""The ingest benchmark: baseline, naive and reelhook under the same load, one after another."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import load_py, load_wrk
from bench.config import BenchConfig
from bench.load import LoadResult
from bench.payload import Target
from bench.procs import ServerProcess
from bench.targets import reelhook_with_tasks, start_baseline, start_naive
from bench.verify import NAIVE_ROWS, REELHOOK_ROWS, Verdict, verify

WARMUP_SEQ = 0
MEASURE_SEQ = 10_000_000
SOAK_SEQ = 20_000_000


@dataclass
class ServerFigures:
    """What one server did under load."""

    name: str
    load: LoadResult
    peak_memory_mb: float
    callbacks_total: int
    verdict: Verdict | None = field(default=None)


async def run_ingest(config: BenchConfig, workdir: Path) -> list[ServerFigures]:
    """Measure the three servers, in the order baseline, naive, reelhook."""
    figures = [await _measure_baseline(config, workdir)]
    figures.append(await _measure_naive(config, workdir))
    figures.append(await _measure_reelhook(config, workdir))
    return figures


async def _measure_baseline(config: BenchConfig, workdir: Path) -> ServerFigures:
    server = await asyncio.to_thread(start_baseline, workdir)
    targets = [Target("/callbacks/piapi/bare", "unused", "bare-ptid")]
    try:
        return (await _drive(config, workdir, server, targets))[0]
    finally:
        await asyncio.to_thread(server.stop)


async def _measure_naive(config: BenchConfig, workdir: Path) -> ServerFigures:
    server, targets = await asyncio.to_thread(start_naive, workdir, config.tasks)
    try:
        figures, total = await _drive(config, workdir, server, targets)
    finally:
        await asyncio.to_thread(server.stop)
    figures.verdict = verify(workdir / "naive.db", NAIVE_ROWS, total, config.connections * 2)
    return figures


async def _measure_reelhook(config: BenchConfig, workdir: Path) -> ServerFigures:
    database = workdir / "reelhook.db"
    async with reelhook_with_tasks(workdir, config.tasks, database) as (server, targets):
        figures, total = await _drive(config, workdir, server, targets)
        total = await _soak(config, workdir, server, targets, total)
        figures.peak_memory_mb = server.peak_memory_mb()
        figures.callbacks_total = total.acknowledged
    figures.verdict = verify(database, REELHOOK_ROWS, total, config.connections * 3)
    return figures


async def _soak(
    config: BenchConfig,
    workdir: Path,
    server: ServerProcess,
    targets: Sequence[Target],
    total: LoadResult,
) -> LoadResult:
    """More of the same load until `soak_callbacks` have been acknowledged (time-bounded), so
    the peak memory is read after that many; throughput and latency come from the main run."""
    missing = config.soak_callbacks - total.acknowledged
    if missing <= 0 or total.rps <= 0:
        return total
    seconds = min(config.soak_max_seconds, missing / total.rps * 1.2 + 1)
    extra = await load(config, workdir, server, targets, seconds, SOAK_SEQ)
    return combined(total, extra)


async def _drive(
    config: BenchConfig, workdir: Path, server: ServerProcess, targets: Sequence[Target]
) -> tuple[ServerFigures, LoadResult]:
    """Warm up, measure, read the peak memory; also the warm-up and measurement combined."""
    warm = await load(config, workdir, server, targets, config.warmup_seconds, WARMUP_SEQ)
    main = await load(config, workdir, server, targets, config.seconds, MEASURE_SEQ)
    total = combined(warm, main)
    figures = ServerFigures(server.name, main, server.peak_memory_mb(), total.acknowledged)
    return figures, total


async def load(
    config: BenchConfig,
    workdir: Path,
    server: ServerProcess,
    targets: Sequence[Target],
    seconds: float,
    seq_start: int,
) -> LoadResult:
    """One load run with the configured generator; sequence numbers start after `seq_start`."""
    if config.generator == "wrk":
        script_path = workdir / f"{server.name}-{seq_start}.lua"
        script = load_wrk.write_script(script_path, targets, seq_start)
        return await load_wrk.run_wrk(
            server.url, script, connections=config.connections, seconds=seconds
        )
    return await load_py.run_python(
        server.url, targets, connections=config.connections, seconds=seconds,
        max_requests=config.max_requests, seq_start=seq_start,
    )


def combined(first: LoadResult, second: LoadResult) -> LoadResult:
    """Two runs against one server counted together, for checking its database afterwards."""
    seqs = None
    if first.acknowledged_seqs is not None and second.acknowledged_seqs is not None:
        seqs = first.acknowledged_seqs | second.acknowledged_seqs
    return LoadResult(
        generator=second.generator,
        requests=first.requests + second.requests,
        acknowledged=first.acknowledged + second.acknowledged,
        errors=first.errors + second.errors,
        seconds=first.seconds + second.seconds,
        p50_ms=second.p50_ms,
        p99_ms=second.p99_ms,
        acknowledged_seqs=seqs,
    )
