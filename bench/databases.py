"""SQLite beside PostgreSQL (`python -m bench --database postgres`): callback ingest through a
real `reelhook serve` on each, the notice fan-out with 1 worker on SQLite and 1, 2 and 4 worker
processes on one PostgreSQL database (each against a bare client's ceiling), ingest with
WEB_CONCURRENCY=2 against one web process on PostgreSQL, and how long a NOTIFY takes to reach
another process.

PostgreSQL is the server at REELHOOK_BENCH_DATABASE_URL (default: postgresql://postgres@
127.0.0.1:5432/test); each measurement gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.config import BenchConfig
from bench.fanout import HookReceiver
from bench.fanout_worker import CHUNK
from bench.ingest import ServerFigures, UnderLoad, collect, interleave
from bench.load_py import run_python
from bench.postgres import fresh_postgres
from bench.procs import python_argv
from bench.targets import reelhook_with_tasks
from dispatcher.config import DispatchConfig
from receiver.sandbox.providers import LocalServer
from receiver.services.secrets import SecretBox, new_fernet_key
from store import EventIn, NewDestination, NewTask, Observation, TaskStore, open_store
from store.interface import TASKS
from store.models import new_task_id

WORKER_COUNTS = (1, 2, 4)
WEB_PROCESSES = (1, 2)  # WEB_CONCURRENCY of the two servers compared on PostgreSQL


@dataclass(frozen=True)
class IngestRow:
    """Callbacks through `reelhook serve` on one database."""

    database: str
    acknowledged: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        """Callbacks answered 2xx per second."""
        return self.acknowledged / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class FanoutRow:
    """One fan-out round: `workers` worker processes on one database."""

    database: str
    workers: int
    tasks: int
    seconds: float
    accepted_once: int
    accepted_twice: int
    ceiling_per_second: float = 0.0  # a bare aiohttp client, same receiver, right afterwards

    @property
    def per_second(self) -> float:
        """Notices accepted per second."""
        return self.accepted_once / self.seconds if self.seconds else 0.0

    @property
    def of_ceiling(self) -> float:
        """Notices per second as a share of the bare client's posts per second."""
        return self.per_second / self.ceiling_per_second if self.ceiling_per_second else 0.0


@contextlib.asynccontextmanager
async def database_of(kind: str, workdir: Path, label: str) -> AsyncIterator[str]:
    """A fresh database of `kind` (sqlite or postgres)."""
    if kind == "postgres":
        async with fresh_postgres() as url:
            yield url
    else:
        yield str(workdir / f"{label}.db")


async def ingest(config: BenchConfig, workdir: Path, kind: str) -> IngestRow:
    """Callbacks from the Python load generator at a real `reelhook serve` on `kind`."""
    async with (
        database_of(kind, workdir, "ingest") as database,
        reelhook_with_tasks(workdir, config.tasks, database, name=f"reelhook-{kind}") as (
            server, targets),
    ):
        result = await run_python(
            server.url, targets, connections=config.connections,
            seconds=config.seconds, max_requests=config.max_requests,
        )
    return IngestRow(kind, result.acknowledged, result.seconds, result.p50_ms, result.p99_ms)


async def web_processes(config: BenchConfig, workdir: Path) -> list[ServerFigures]:
    """Ingest through `reelhook serve` on PostgreSQL with 1 web process and with
    WEB_CONCURRENCY=2, neither pinned (the load generator shares the cores), each on its own
    fresh database, measured in interleaved rounds like the ingest part and checked the same way.
    (SQLite takes one web process: serve ignores WEB_CONCURRENCY there.)"""
    async with contextlib.AsyncExitStack() as stack:
        under: dict[str, UnderLoad] = {}
        for count in WEB_PROCESSES:
            url = await stack.enter_async_context(fresh_postgres())
            server, targets = await stack.enter_async_context(reelhook_with_tasks(
                workdir, config.tasks, url, name=f"reelhook-web-{count}", processes=count,
                core=None,
            ))
            under[f"reelhook, WEB_CONCURRENCY={count}"] = UnderLoad(server, targets, url)
        await interleave(config, workdir, under)
        return await collect(config, under)


def web_ratios(figures: list[ServerFigures]) -> dict[str, float]:
    """The last (most web processes) against the first (one)."""
    one, many = figures[0], figures[-1]
    return {
        "callbacks/s": report.ratio(many.load.rps, one.load.rps),
        "p50": report.ratio(many.load.p50_ms, one.load.p50_ms),
        "p99": report.ratio(many.load.p99_ms, one.load.p99_ms),
        "server CPU per callback": report.ratio(many.cpu_us, one.cpu_us),
    }


async def fanout(workdir: Path, kind: str, workers: int, tasks: int) -> FanoutRow:
    """`tasks` finished tasks with one webhook each, sent by `workers` worker processes."""
    hooks = HookReceiver()
    key = new_fernet_key()
    label = f"fanout-{workers}"
    async with database_of(kind, workdir, label) as database, LocalServer(hooks.app()) as sink:
        store = await open_store(database)
        try:
            await finished_tasks(store, SecretBox(key.encode()), f"{sink.url}/hook", tasks)
        finally:
            await store.close()
        started = time.monotonic()
        processes = [
            await asyncio.create_subprocess_exec(
                *python_argv("-m", "bench.db_fanout_worker", "--database", database,
                             f"--key={key}"),  # a Fernet key may begin with "-"
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(workers)
        ]
        outputs = await asyncio.gather(
            *(asyncio.wait_for(p.communicate(), 300) for p in processes)
        )
        seconds = time.monotonic() - started
        for out, err in outputs:
            if b"WORKER " not in out:
                raise RuntimeError(f"a fan-out worker failed: {err.decode()[-2000:]}")
        limit = DispatchConfig(decrypt=SecretBox(key.encode()).decrypt).concurrency
        bare = await bare_client(f"{sink.url}/ceiling", tasks, limit)
    once = sum(1 for n in hooks.accepted.values() if n >= 1)
    twice = sum(1 for n in hooks.accepted.values() if n > 1)
    return FanoutRow(kind, workers, tasks, seconds, once, twice, bare)


async def bare_client(url: str, count: int, concurrency: int) -> float:
    """The fan-out's ceiling (bench/ceiling.py) in a process of its own: posts per second."""
    process = await asyncio.create_subprocess_exec(
        *python_argv("-m", "bench.ceiling", "--url", url, "--count", str(count),
                     "--concurrency", str(concurrency)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 300)
    for line in out.decode().splitlines():
        if line.startswith("CEILING "):
            return float(json.loads(line[8:])["per_second"])
    raise RuntimeError(f"the bare client printed no figures: {err.decode()[-2000:]}")


async def finished_tasks(store: TaskStore, box: SecretBox, url: str, count: int) -> None:
    """`count` succeeded tasks, each with its own webhook destination (its own route, so the
    dispatcher may send them in parallel), each with one pending notice."""
    for start in range(0, count, CHUNK):
        ids = [new_task_id() for _ in range(min(CHUNK, count - start))]
        await asyncio.gather(*(
            store.create_task(NewTask(id=task_id, provider="piapi", model="Qubico/skyreels",
                                      request={}, destinations=(_hook(box, url, task_id),)))
            for task_id in ids
        ))
        event = EventIn("bench:done", "poll", Observation("succeeded", 100))
        await asyncio.gather(*(store.record_event(task_id, event) for task_id in ids))


def _hook(box: SecretBox, url: str, task_id: str) -> NewDestination:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    target = box.encrypt(json.dumps({"url": f"{url}?task={task_id}", "secret": secret}))
    return NewDestination("webhook", target, "http://127.0.0.1/…", f"route-{task_id}")


async def notify_latency(samples: int = 200) -> dict[str, float]:
    """Milliseconds from a commit in one store (process) to its announcement in another."""
    async with fresh_postgres() as url:
        writer, listener = await open_store(url), await open_store(url)
        heard: dict[str, float] = {}
        listener.subscribe(TASKS, lambda task_id: heard.__setitem__(task_id, time.perf_counter()))
        delays = []
        try:
            for number in range(samples):
                task_id = f"tsk_bench{number:023d}"
                await writer.create_task(NewTask(task_id, "piapi", "Qubico/skyreels", {}))
                await _heard_after(heard, task_id, 0.0)  # the creation's own announcement
                began = time.perf_counter()
                await writer.record_event(task_id, EventIn("e", "poll", Observation("running")))
                await _heard_after(heard, task_id, began)
                delays.append((heard[task_id] - began) * 1000)
        finally:
            await writer.close()
            await listener.close()
    delays.sort()
    return {"p50_ms": statistics.median(delays), "p99_ms": delays[int(len(delays) * 0.99) - 1],
            "max_ms": delays[-1]}


async def run_databases(config: BenchConfig, workdir: Path) -> dict[str, Any]:
    """Every measurement of this part, printed as it finishes."""
    ingest_rows = [await ingest(config, workdir, kind) for kind in ("sqlite", "postgres")]
    print(f"\n{ingest_table(ingest_rows)}", flush=True)
    rounds = [await fanout(workdir, "sqlite", 1, config.fanout_tasks)]
    rounds += [await fanout(workdir, "postgres", n, config.fanout_tasks) for n in WORKER_COUNTS]
    print(f"\n{fanout_table(rounds)}", flush=True)
    web = await web_processes(config, workdir)
    print(f"\n{web_table(web)}\n", flush=True)
    latency = await notify_latency()
    print(f"NOTIFY from one process to another: p50 {latency['p50_ms']:.1f} ms,"
          f" p99 {latency['p99_ms']:.1f} ms, max {latency['max_ms']:.1f} ms", flush=True)
    return {
        "ingest": [row.__dict__ | {"per_second": row.per_second} for row in ingest_rows],
        "fanout": [row.__dict__ | {"per_second": row.per_second, "of_ceiling": row.of_ceiling}
                   for row in rounds],
        "web_processes": report.as_json(web),
        "web_ratios": web_ratios(web),
        "notify_latency": latency,
        "verified": all(r.accepted_once == r.tasks and r.accepted_twice == 0 for r in rounds)
        and all(f.verdict is not None and f.verdict.ok for f in web),
    }


async def _heard_after(heard: dict[str, float], task_id: str, moment: float) -> None:
    deadline = time.monotonic() + 10
    while heard.get(task_id, -1.0) < moment:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no announcement of {task_id} within 10 s")
        await asyncio.sleep(0.0005)


def ingest_table(rows: list[IngestRow]) -> str:
    """Markdown: callbacks per second on each database."""
    lines = ["| database | callbacks acknowledged | seconds | callbacks/s | p50 ms | p99 ms |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.database} | {r.acknowledged:,} | {r.seconds:.1f} | {r.per_second:,.0f}"
              f" | {r.p50_ms:.1f} | {r.p99_ms:.1f} |" for r in rows]
    return "\n".join(lines)


def fanout_table(rows: list[FanoutRow]) -> str:
    """Markdown: notices per second by database and worker processes, against the bare client."""
    lines = ["| database | worker processes | notices | seconds | notices/s"
             " | bare client posts/s | of ceiling | accepted twice |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.database} | {r.workers} | {r.tasks:,} | {r.seconds:.1f}"
              f" | {r.per_second:,.0f} | {r.ceiling_per_second:,.0f} | {r.of_ceiling:.2f}"
              f" | {r.accepted_twice} |" for r in rows]
    return "\n".join(lines)


def web_table(figures: list[ServerFigures]) -> str:
    """Markdown: the web processes' rows (as in the ingest table) and their ratios."""
    ratios = ", ".join(f"{name} {value:.2f} x" for name, value in web_ratios(figures).items())
    return (f"{report.ingest_table(figures)}\n\n{figures[-1].name} against one process: {ratios}"
            " (neither pinned; the load generator shares the two cores with them)")
