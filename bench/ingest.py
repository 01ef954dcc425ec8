"""The ingest benchmark: baseline, naive, lean and reelhook under the same load, interleaved
(with --database postgres, also reelhook on a PostgreSQL database).

All the servers run at once (each pinned to the server core; an idle one costs nothing), and
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
from bench.postgres import backend_cpu, fresh_postgres, spent
from bench.procs import ServerProcess
from bench.targets import reelhook_with_tasks, start_baseline, start_lean, start_naive
from bench.verify import LEAN_ROWS, NAIVE_ROWS, REELHOOK_ROWS, Verdict, verify
from store import is_postgres

WARMUP_SEQ = 0
MEASURE_SEQ = 10_000_000
ROUND_SEQ = 1_000_000
SOAK_SEQ = 20_000_000
ORDER = ("baseline", "naive", "lean", "reelhook")
ON_POSTGRES = "reelhook (postgres)"  # with --database postgres: reelhook on a PostgreSQL database


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
    # PostgreSQL's backends serving this server's database, per acknowledged request
    database_cpu_us: float | None = None


@dataclass
class UnderLoad:
    """One server being measured: where its callbacks go, where they are stored (a SQLite file
    read with `query`, a PostgreSQL URL, or None) and what its rounds gave."""

    server: ServerProcess
    targets: Sequence[Target]
    database: Path | str | None
    query: str = REELHOOK_ROWS
    hides_secrets: bool = True
    rounds: list[LoadResult] = field(default_factory=list)
    cpu_seconds: float = 0.0
    database_cpu_seconds: float = 0.0
    total: LoadResult | None = None

    @property
    def on_postgres(self) -> bool:
        """Whether its database is a PostgreSQL one."""
        return isinstance(self.database, str) and is_postgres(self.database)


async def run_ingest(config: BenchConfig, workdir: Path) -> list[ServerFigures]:
    """Measure the four servers (five with --database postgres) interleaved; figures in the order
    of ORDER, then ON_POSTGRES."""
    async with _servers(config, workdir) as under:
        await interleave(config, workdir, under)
        await _soak(config, workdir, under["reelhook"])
        return await collect(config, under, soaked="reelhook")


async def interleave(config: BenchConfig, workdir: Path, under: dict[str, UnderLoad]) -> None:
    """The warm-up of each server, then `config.rounds` rounds loading each in turn, in an
    order that rotates from round to round."""
    for name, one in under.items():
        one.total = await _load(config, workdir, one, config.warmup_seconds, WARMUP_SEQ, name)
    names = list(under)
    for number in range(config.rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            await _measure_round(config, workdir, under[name], number, name)


async def collect(
    config: BenchConfig, under: dict[str, UnderLoad], soaked: str = ""
) -> list[ServerFigures]:
    """Each server's figures, its database checked (while the servers and databases are still
    there); `soaked` names the one loaded once more after the rounds."""
    memory = {name: one.server.peak_memory_mb() for name, one in under.items()}
    return [
        await _figures(config, name, one, memory[name], soaked == name)
        for name, one in under.items()
    ]


@contextlib.asynccontextmanager
async def _servers(config: BenchConfig, workdir: Path) -> AsyncIterator[dict[str, UnderLoad]]:
    under: dict[str, UnderLoad] = {}
    async with contextlib.AsyncExitStack() as stack:
        baseline = await asyncio.to_thread(start_baseline, workdir)
        stack.callback(baseline.stop)
        bare = [Target("/callbacks/piapi/bare", "-", "bare")]
        under["baseline"] = UnderLoad(baseline, bare, None)
        naive, naive_targets = await asyncio.to_thread(start_naive, workdir, config.tasks)
        stack.callback(naive.stop)
        under["naive"] = UnderLoad(naive, naive_targets, workdir / "naive.db", NAIVE_ROWS,
                                   hides_secrets=False)
        lean, lean_targets = await asyncio.to_thread(start_lean, workdir, config.tasks)
        stack.callback(lean.stop)
        under["lean"] = UnderLoad(lean, lean_targets, workdir / "lean.db", LEAN_ROWS)
        database = workdir / "reelhook.db"
        ours, targets = await stack.enter_async_context(
            reelhook_with_tasks(workdir, config.tasks, database)
        )
        under["reelhook"] = UnderLoad(ours, targets, database)
        if config.database == "postgres":
            url = await stack.enter_async_context(fresh_postgres())
            ours, targets = await stack.enter_async_context(
                reelhook_with_tasks(workdir, config.tasks, url, name="reelhook-postgres")
            )
            under[ON_POSTGRES] = UnderLoad(ours, targets, url)
        yield under


async def _measure_round(
    config: BenchConfig, workdir: Path, one: UnderLoad, number: int, name: str
) -> None:
    seconds = config.seconds / config.rounds
    backends = await backend_cpu(str(one.database)) if one.on_postgres else {}
    before = one.server.cpu_seconds()
    result = await _load(config, workdir, one, seconds, MEASURE_SEQ + number * ROUND_SEQ, name)
    one.cpu_seconds += one.server.cpu_seconds() - before
    if one.on_postgres:
        one.database_cpu_seconds += spent(backends, await backend_cpu(str(one.database)))
    one.rounds.append(result)
    assert one.total is not None
    one.total = combined(one.total, result)


async def _soak(config: BenchConfig, workdir: Path, one: UnderLoad) -> None:
    """More of the same load until `soak_callbacks` have been acknowledged (time-bounded), so
    the peak memory is read after that many; throughput and latency come from the rounds."""
    assert one.total is not None
    missing = config.soak_callbacks - one.total.acknowledged
    rps = _measured(one).rps
    if missing <= 0 or rps <= 0:
        return
    seconds = min(config.soak_max_seconds, missing / rps * 1.2 + 1)
    one.total = combined(one.total, await _load(config, workdir, one, seconds, SOAK_SEQ, "soak"))


async def _figures(
    config: BenchConfig, name: str, one: UnderLoad, memory: float, soaked: bool
) -> ServerFigures:
    measured = _measured(one)
    assert one.total is not None
    acknowledged = measured.acknowledged
    figures = ServerFigures(
        name, measured, memory, one.total.acknowledged,
        cpu_us=one.cpu_seconds / acknowledged * 1e6 if acknowledged else 0.0,
        rounds_rps=[r.rps for r in one.rounds],
    )
    if one.on_postgres and acknowledged:
        figures.database_cpu_us = one.database_cpu_seconds / acknowledged * 1e6
    if one.database is not None:
        # wrk may leave one request per connection unanswered at the end of each load run.
        runs = 1 + config.rounds + soaked
        figures.verdict = await verify(one.database, one.query, one.total,
                                       config.connections * runs,
                                       hides_secrets=one.hides_secrets)
    return figures


def _measured(one: UnderLoad) -> LoadResult:
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
    config: BenchConfig, workdir: Path, one: UnderLoad, seconds: float, seq_start: int, tag: str
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
