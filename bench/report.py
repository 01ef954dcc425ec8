"""The figures as a Markdown table and a JSON record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.ingest import ServerFigures

# The targets of issue 13; None: shown for comparison, no target.
TARGETS: dict[str, float | None] = {
    "throughput vs lean": 0.8,
    "p99 vs lean (at most)": 1.5,
    "throughput vs baseline": None,
    "throughput vs naive": None,
    "CPU per callback vs lean (at most)": None,
    "peak memory MB (under)": 150.0,
}


def ingest_table(figures: Sequence[ServerFigures]) -> str:
    """One row per server; a column for PostgreSQL's CPU where a server stores there."""
    postgres = any(f.database_cpu_us is not None for f in figures)
    extra = " PostgreSQL CPU µs/request |" if postgres else ""
    lines = [
        "| server | requests/s | rounds (min-max) | p50 ms | p99 ms | CPU µs/request |" + extra
        + " peak RSS MB | callbacks acknowledged | verified |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * postgres + "---:|---:|---|",
    ]
    for f in figures:
        verdict = f.verdict.describe() if f.verdict else "n/a (stores nothing)"
        spread = f"{min(f.rounds_rps):,.0f}-{max(f.rounds_rps):,.0f}" if f.rounds_rps else "-"
        database = "-" if f.database_cpu_us is None else f"{f.database_cpu_us:.0f}"
        lines.append(
            f"| {f.name} | {f.load.rps:,.0f} | {spread} | {f.load.p50_ms:.2f}"
            f" | {f.load.p99_ms:.2f} | {f.cpu_us:.0f} |" + f" {database} |" * postgres
            + f" {f.peak_memory_mb:.0f} | {f.callbacks_total:,} | {verdict} |"
        )
    return "\n".join(lines)


def ratios(figures: Sequence[ServerFigures], ours_name: str = "reelhook") -> dict[str, float]:
    """reelhook (or the server called `ours_name`) against the three references."""
    by_name = {f.name: f for f in figures}
    ours, lean = by_name[ours_name], by_name["lean"]
    return {
        "throughput vs lean": ratio(ours.load.rps, lean.load.rps),
        "p99 vs lean (at most)": ratio(ours.load.p99_ms, lean.load.p99_ms),
        "throughput vs baseline": ratio(ours.load.rps, by_name["baseline"].load.rps),
        "throughput vs naive": ratio(ours.load.rps, by_name["naive"].load.rps),
        "CPU per callback vs lean (at most)": ratio(ours.cpu_us, lean.cpu_us),
        "peak memory MB (under)": ours.peak_memory_mb,
    }


def met(name: str, value: float) -> bool | None:
    """Whether `value` meets the target called `name`; None where there is no target."""
    target = TARGETS[name]
    if target is None:
        return None
    return value <= target if "at most" in name or "under" in name else value >= target


def ratio_table(values: dict[str, float], ours_name: str = "reelhook") -> str:
    """Each ratio with its target and whether it is met."""
    lines = [f"| measure | {ours_name} | target | met |", "|---|---:|---:|---|"]
    for name, value in values.items():
        target, verdict = TARGETS[name], met(name, value)
        shown = "-" if target is None else f"{target:g}"
        word = "-" if verdict is None else "yes" if verdict else "NO"
        lines.append(f"| {name} | {value:.2f} | {shown} | {word} |")
    return "\n".join(lines)


def targets_summary(figures: Sequence[ServerFigures], values: dict[str, float]) -> list[str]:
    """One line per ingest target of issue 13: met, or not and the measured reason."""
    by_name = {f.name: f for f in figures}
    ours, lean = by_name["reelhook"], by_name["lean"]
    cpu = (f"reelhook spends {ours.cpu_us:.0f} µs of server CPU per callback, lean"
           f" {lean.cpu_us:.0f} ({values['CPU per callback vs lean (at most)']:.2f} x)")
    lines = []
    for name, label in (("throughput vs lean", "reelhook >= 0.8 x lean's throughput"),
                        ("p99 vs lean (at most)", "reelhook p99 <= 1.5 x lean's")):
        verdict = "met" if met(name, values[name]) else f"NOT met: {cpu}"
        lines.append(f"- {label}: {values[name]:.2f} x, {verdict}")
    stored = [f for f in figures if f.verdict is not None]
    checks = {f.name: bool(f.verdict and f.verdict.ok) for f in stored}
    lines.append(
        "- every acknowledged callback stored once, echoed secret never stored (lean, reelhook):"
        f" {'met' if all(checks.values()) else 'NOT met'}"
        f" ({', '.join(f'{name} ' + ('OK' if ok else 'FAILED') for name, ok in checks.items())})"
    )
    return lines


def as_json(figures: Sequence[ServerFigures]) -> list[dict[str, Any]]:
    """The raw figures."""
    return [
        {
            "server": f.name, "generator": f.load.generator, "rps": f.load.rps,
            "p50_ms": f.load.p50_ms, "p99_ms": f.load.p99_ms, "requests": f.load.requests,
            "acknowledged": f.load.acknowledged, "errors": f.load.errors,
            "seconds": f.load.seconds, "peak_memory_mb": f.peak_memory_mb,
            "callbacks_total": f.callbacks_total, "cpu_us": f.cpu_us,
            "database_cpu_us": f.database_cpu_us,
            "rounds_rps": f.rounds_rps,
            "verified": f.verdict.ok if f.verdict else None,
        }
        for f in figures
    ]


def ratio(a: float, b: float) -> float:
    """a / b, or 0 where b is 0."""
    return a / b if b else 0.0
