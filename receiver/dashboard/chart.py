"""The cost chart: spend per provider per day as stacked bars, laid out for an SVG template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from receiver.providers import PROVIDER_NAMES

PALETTE = ("#6366f1", "#06b6d4", "#f59e0b", "#ec4899", "#10b981", "#ef4444", "#8b5cf6")
# A colour per provider, in the adapters' order (a new provider gets the next one).
COLOURS = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(PROVIDER_NAMES)}
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 48, 28, 12


@dataclass(frozen=True)
class Bar:
    """One provider's share of one day."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Chart:
    """Everything the template draws."""

    bars: list[Bar]
    days: list[tuple[float, str]]
    ticks: list[tuple[float, str]]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: int = HEIGHT - BOTTOM


def first_day(days: int, today: date | None = None) -> str:
    """The first day (YYYY-MM-DD) of a window of `days` days ending today (UTC)."""
    today = today or datetime.now(UTC).date()
    return (today - timedelta(days=days - 1)).isoformat()


def daily_chart(rows: Sequence[Mapping[str, Any]], days: int, today: date | None = None) -> Chart:
    """Stacked bars from rows of {provider, day, cost_usd} over the last `days` days."""
    start = date.fromisoformat(first_day(days, today))
    labels = [(start + timedelta(days=i)).isoformat() for i in range(days)]
    per_day: dict[str, list[Mapping[str, Any]]] = {day: [] for day in labels}
    for row in rows:
        if row["day"] in per_day:
            per_day[row["day"]].append(row)
    peak = max((sum(r["cost_usd"] for r in items) for items in per_day.values()), default=0.0)
    scale_top = _nice(peak)
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / days
    bars: list[Bar] = []
    for index, day in enumerate(labels):
        base = float(HEIGHT - BOTTOM)
        for row in sorted(per_day[day], key=lambda r: r["provider"]):
            height = plot_h * row["cost_usd"] / scale_top if scale_top else 0.0
            base -= height
            colour = COLOURS.get(row["provider"], "#94a3b8")
            title = f"{day} {row['provider']}: ${row['cost_usd']:.2f}"
            x = LEFT + index * slot + slot * 0.18
            width = round(slot * 0.64, 2)
            bars.append(Bar(x, round(base, 2), width, round(height, 2), colour, title))
    days_axis = [(LEFT + (i + 0.5) * slot, day[5:]) for i, day in enumerate(labels)]
    ticks = [(HEIGHT - BOTTOM - plot_h * i / 4, f"${scale_top * i / 4:.2f}") for i in range(5)]
    return Chart(bars, days_axis, ticks)


def _nice(value: float) -> float:
    """A round number at or above `value` for the top of the scale (1 when there is nothing)."""
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10 if value >= 1 else 0.1
    while step * 10 < value:
        step *= 10
    top = step
    while top < value:
        top += step
    return top
