"""How reelhook behaves as the database grows: 10k, 100k, 1M stored events.

At each size: how fast the events went in (straight through the store's query functions), the
file size, callback throughput and latency over HTTP (wrk or the Python generator), and the
latency of the list endpoints: the first page, pages deep behind a cursor, a status filter, and
one task's events.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.config import BenchConfig
from bench.ingest import load
from bench.procs import ServerProcess, free_port, start_server
from bench.seeding import Seeder
from bench.targets import API_TOKEN, reelhook_argv, reelhook_env
from receiver.sandbox.providers import LocalServer, PiapiSimulator
from receiver.services.secrets import SecretBox, new_fernet_key

LIST_SAMPLES = 20
DEEP_PAGES = 50


@dataclass(frozen=True)
class GrowthFigures:
    """Measurements at one database size."""

    events: int
    tasks: int
    insert_rate: float
    file_mb: float
    callback_rps: float
    callback_p50_ms: float
    callback_p99_ms: float
    first_page_ms: float
    deep_page_ms: float
    status_page_ms: float
    task_events_ms: float


async def run_growth(config: BenchConfig, workdir: Path) -> list[GrowthFigures]:
    """Grow one file through each size in `config.growth_sizes`, measuring at each."""
    key = new_fernet_key()
    database = workdir / "growth.db"
    seeder = Seeder(str(database), SecretBox(key.encode()))
    results = []
    sim = PiapiSimulator()
    async with LocalServer(sim.app()) as provider:
        for size in sorted(config.growth_sizes):
            rate = await asyncio.to_thread(seeder.grow_to, size)
            results.append(
                await _measure(config, workdir, seeder, rate, key, provider.url, sim.api_key)
            )
    return results


async def _measure(
    config: BenchConfig, workdir: Path, seeder: Seeder, rate: float, key: str,
    provider_url: str, api_key: str,
) -> GrowthFigures:
    database = Path(seeder.path)
    file_mb = _size_mb(database)
    port = free_port()
    env = reelhook_env(port, database, provider_url, api_key) | {"REELHOOK_SECRET_KEY": key}
    server = await asyncio.to_thread(start_server, "growth", reelhook_argv(), port, env, workdir)
    try:
        seq = 50_000_000 + seeder.events * 10
        result = await load(config, workdir, server, seeder.targets,
                            config.growth_seconds, seq)
        lists = await _list_latencies(server, seeder.task_ids[len(seeder.task_ids) // 2])
    finally:
        await asyncio.to_thread(server.stop)
    return GrowthFigures(
        events=seeder.events, tasks=len(seeder.task_ids), insert_rate=rate, file_mb=file_mb,
        callback_rps=result.rps, callback_p50_ms=result.p50_ms, callback_p99_ms=result.p99_ms,
        **lists,
    )


async def _list_latencies(server: ServerProcess, task_id: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        first = await _median(client, ["/v1/tasks?limit=50"] * LIST_SAMPLES)
        deep = await _deep_pages(client)
        status = await _median(client, ["/v1/tasks?status=running&limit=50"] * LIST_SAMPLES)
        events = await _median(client, [f"/v1/tasks/{task_id}/events"] * LIST_SAMPLES)
    return {"first_page_ms": first, "deep_page_ms": deep, "status_page_ms": status,
            "task_events_ms": events}


async def _median(client: httpx.AsyncClient, paths: Sequence[str]) -> float:
    times = []
    for path in paths:
        started = time.perf_counter()
        (await client.get(path)).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def _deep_pages(client: httpx.AsyncClient) -> float:
    """Median time of a page while following the cursor DEEP_PAGES pages down."""
    times, cursor = [], ""
    for _ in range(DEEP_PAGES):
        started = time.perf_counter()
        answer = await client.get(f"/v1/tasks?limit=50&cursor={cursor}")
        answer.raise_for_status()
        times.append(time.perf_counter() - started)
        cursor = answer.json()["next_cursor"] or ""
        if not cursor:
            break
    return statistics.median(times) * 1000


def _size_mb(database: Path) -> float:
    files = [database, database.with_name(database.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def growth_table(rows: Sequence[GrowthFigures]) -> str:
    """One row per size."""
    lines = [
        "| stored events | tasks | insert rate (events/s) | file MB | callbacks/s | p50 ms"
        " | p99 ms | first page ms | pages 1-50 via cursor ms | status filter ms"
        " | one task's events ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g in rows:
        lines.append(
            f"| {g.events:,} | {g.tasks:,} | {g.insert_rate:,.0f} | {g.file_mb:,.0f}"
            f" | {g.callback_rps:,.0f} | {g.callback_p50_ms:.1f} | {g.callback_p99_ms:.1f}"
            f" | {g.first_page_ms:.1f} | {g.deep_page_ms:.1f} | {g.status_page_ms:.1f}"
            f" | {g.task_events_ms:.1f} |"
        )
    return "\n".join(lines)
