"""The ingest benchmark: baseline, naive, lean and reelhook under the same load, interleaved.

All four servers run at once (each pinned to the server core; an idle one costs nothing), and
the measured time is cut into rounds: each round loads every server in turn, in a rotating order,
so a neighbour's burst of load on the machine falls on all of them rather than on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import load_py, load_wrk
from bench.config import BenchConfig
from bench.load import LoadResult
from bench.payload import Target
from bench.procs import ServerProcess
from bench.targets import reelhook_with_tasks, start_baseline, start_lean, start_naive
from bench.verify import LEAN_ROWS, NAIVE_ROWS, REELHOOK_ROWS, Verdict, verify

WARMUP_SEQ = 0
MEASURE_SEQ = 10_000_000
ROUND_SEQ = 1_000_000
SOAK_SEQ = 20_000_000
ORDER = ("baseline", "naive", "lean", "reelhook")
ROWS = {"naive": NAIVE_ROWS, "lean": LEAN_ROWS, "reelhook": REELHOOK_ROWS}


@dataclass
class ServerFigures:
    """What one server did under load: `load` sums the measured rounds."""

    name: str
    load: LoadResult
    peak_memory_mb: float
    callbacks_total: int
    cpu_us: float = 0.0  # server CPU (all threads, user + system) per acknowledged request
    rounds_rps: list[float] = field(default_factory=list)
    verdict: Verdict | None = field(default=None)


@dataclass
class _Under:
    server: ServerProcess
    targets: Sequence[Target]
    database: Path | None
    rounds: list[LoadResult] = field(default_factory=list)
    cpu_seconds: float = 0.0
    total: LoadResult | None = None


async def run_ingest(config: BenchConfig, workdir: Path) -> list[ServerFigures]:
    """Measure the four servers interleaved; figures in the order of ORDER."""
    async with _servers(config, workdir) as under:
        for name, one in under.items():
            one.total = await _load(config, workdir, one, config.warmup_seconds, WARMUP_SEQ, name)
        for number in range(config.rounds):
            names = ORDER[number % len(ORDER):] + ORDER[:number % len(ORDER)]
            for name in names:
                await _measure_round(config, workdir, under[name], number, name)
        ours = under["reelhook"]
        await _soak(config, workdir, ours)
        memory = {name: one.server.peak_memory_mb() for name, one in under.items()}
    return [_figures(config, name, under[name], memory[name]) for name in ORDER]


@contextlib.asynccontextmanager
async def _servers(config: BenchConfig, workdir: Path) -> AsyncIterator[dict[str, _Under]]:
    under: dict[str, _Under] = {}
    async with contextlib.AsyncExitStack() as stack:
        baseline = await asyncio.to_thread(start_baseline, workdir)
        stack.callback(baseline.stop)
        under["baseline"] = _Under(baseline, [Target("/callbacks/piapi/bare", "-", "bare")], None)
        naive, naive_targets = await asyncio.to_thread(start_naive, workdir, config.tasks)
        stack.callback(naive.stop)
        under["naive"] = _Under(naive, naive_targets, workdir / "naive.db")
        lean, lean_targets = await asyncio.to_thread(start_lean, workdir, config.tasks)
        stack.callback(lean.stop)
        under["lean"] = _Under(lean, lean_targets, workdir / "lean.db")
        database = workdir / "reelhook.db"
        ours, targets = await stack.enter_async_context(
            reelhook_with_tasks(workdir, config.tasks, database)
        )
        under["reelhook"] = _Under(ours, targets, database)
        yield under


async def _measure_round(
    config: BenchConfig, workdir: Path, one: _Under, number: int, name: str
) -> None:
    seconds = config.seconds / config.rounds
    before = one.server.cpu_seconds()
    result = await _load(config, workdir, one, seconds, MEASURE_SEQ + number * ROUND_SEQ, name)
    one.cpu_seconds += one.server.cpu_seconds() - before
    one.rounds.append(result)
    assert one.total is not None
    one.total = combined(one.total, result)


async def _soak(config: BenchConfig, workdir: Path, one: _Under) -> None:
    """More of the same load until `soak_callbacks` have been acknowledged (time-bounded), so
    the peak memory is read after that many; throughput and latency come from the rounds."""
    assert one.total is not None
    missing = config.soak_callbacks - one.total.acknowledged
    rps = _measured(one).rps
    if missing <= 0 or rps <= 0:
        return
    seconds = min(config.soak_max_seconds, missing / rps * 1.2 + 1)
    one.total = combined(one.total, await _load(config, workdir, one, seconds, SOAK_SEQ, "soak"))


def _figures(config: BenchConfig, name: str, one: _Under, memory: float) -> ServerFigures:
    measured = _measured(one)
    assert one.total is not None
    figures = ServerFigures(
        name, measured, memory, one.total.acknowledged,
        cpu_us=one.cpu_seconds / measured.acknowledged * 1e6 if measured.acknowledged else 0.0,
        rounds_rps=[r.rps for r in one.rounds],
    )
    if one.database is not None:
        # wrk may leave one request per connection unanswered at the end of each load run.
        runs = 1 + config.rounds + (name == "reelhook")
        figures.verdict = verify(one.database, ROWS[name], one.total, config.connections * runs,
                                 hides_secrets=name != "naive")
    return figures


def _measured(one: _Under) -> LoadResult:
    """The rounds together: summed counts, and the median of the rounds' percentiles."""
    rounds = one.rounds
    return LoadResult(
        generator=rounds[0].generator,
        requests=sum(r.requests for r in rounds),
        acknowledged=sum(r.acknowledged for r in rounds),
        errors=sum(r.errors for r in rounds),
        seconds=sum(r.seconds for r in rounds),
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
    )


async def load(
    config: BenchConfig,
    workdir: Path,
    server: ServerProcess,
    targets: Sequence[Target],
    seconds: float,
    seq_start: int,
    tag: str = "",
) -> LoadResult:
    """One load run with the configured generator; sequence numbers start after `seq_start`."""
    if config.generator == "wrk":
        script_path = workdir / f"{server.name}-{tag}-{seq_start}.lua"
        script = load_wrk.write_script(script_path, targets, seq_start)
        return await load_wrk.run_wrk(
            server.url, script, connections=config.connections, seconds=seconds
        )
    return await load_py.run_python(
        server.url, targets, connections=config.connections, seconds=seconds,
        max_requests=config.max_requests, seq_start=seq_start,
    )


async def _load(
    config: BenchConfig, workdir: Path, one: _Under, seconds: float, seq_start: int, tag: str
) -> LoadResult:
    return await load(config, workdir, one.server, one.targets, seconds, seq_start, tag)


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
