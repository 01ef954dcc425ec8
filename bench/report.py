"""The figures as a Markdown table and a JSON record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.ingest import ServerFigures

TARGETS = {
    "throughput vs baseline": 0.8,
    "throughput vs naive": 3.0,
    "p99 vs baseline (at most)": 2.0,
    "peak memory MB (under)": 150.0,
}


def ingest_table(figures: Sequence[ServerFigures]) -> str:
    """One row per server."""
    lines = [
        "| server | requests/s | p50 ms | p99 ms | peak RSS MB | callbacks acknowledged"
        " | verified |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for f in figures:
        verdict = f.verdict.describe() if f.verdict else "n/a (stores nothing)"
        lines.append(
            f"| {f.name} | {f.load.rps:,.0f} | {f.load.p50_ms:.2f} | {f.load.p99_ms:.2f} |"
            f" {f.peak_memory_mb:.0f} | {f.callbacks_total:,} | {verdict} |"
        )
    return "\n".join(lines)


def ratios(figures: Sequence[ServerFigures]) -> dict[str, float]:
    """reelhook against the other two."""
    by_name = {f.name: f for f in figures}
    ours, bare, naive = by_name["reelhook"], by_name["baseline"], by_name["naive"]
    return {
        "throughput vs baseline": _ratio(ours.load.rps, bare.load.rps),
        "throughput vs naive": _ratio(ours.load.rps, naive.load.rps),
        "p99 vs baseline (at most)": _ratio(ours.load.p99_ms, bare.load.p99_ms),
        "peak memory MB (under)": ours.peak_memory_mb,
    }


def ratio_table(values: dict[str, float]) -> str:
    """Each ratio with its target and whether it is met."""
    lines = ["| measure | reelhook | target | met |", "|---|---:|---:|---|"]
    for name, value in values.items():
        target = TARGETS[name]
        met = value <= target if "at most" in name or "under" in name else value >= target
        lines.append(f"| {name} | {value:.2f} | {target:g} | {'yes' if met else 'NO'} |")
    return "\n".join(lines)


def as_json(figures: Sequence[ServerFigures]) -> list[dict[str, Any]]:
    """The raw figures."""
    return [
        {
            "server": f.name, "generator": f.load.generator, "rps": f.load.rps,
            "p50_ms": f.load.p50_ms, "p99_ms": f.load.p99_ms, "requests": f.load.requests,
            "acknowledged": f.load.acknowledged, "errors": f.load.errors,
            "seconds": f.load.seconds, "peak_memory_mb": f.peak_memory_mb,
            "callbacks_total": f.callbacks_total,
            "verified": f.verdict.ok if f.verdict else None,
        }
        for f in figures
    ]


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0
