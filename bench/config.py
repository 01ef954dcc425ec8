"""The knobs of one bench run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchConfig:
    """How long, how hard, with what; every loop is bounded by count and by time."""

    generator: str = "wrk"
    database: str = "sqlite"  # postgres: also reelhook on PostgreSQL, and the databases part
    connections: int = 64
    seconds: float = 20.0
    rounds: int = 4  # the measured seconds of each server are cut into this many interleaved runs
    warmup_seconds: float = 3.0
    tasks: int = 200
    max_requests: int = 2_000_000
    soak_callbacks: int = 100_000
    soak_max_seconds: float = 90.0
    fanout_tasks: int = 10_000
    growth_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    growth_seconds: float = 5.0
