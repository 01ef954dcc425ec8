"""The fan-out benchmark: N finished tasks notify a local webhook receiver through the outbox.

Two rounds: the receiver answers 204 at once; then it refuses half the requests (at random,
seeded) with 500.
The receiver counts, per Standard Webhooks `webhook-id` (the same on every retry of one
delivery), how many times it said yes: every id must get exactly one yes.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.procs import SERVER_CORE, pinned, python_argv
from receiver.sandbox.providers import LocalServer


@dataclass
class HookReceiver:
    """A webhook receiver on loopback that answers at once, failing a share of calls with 500."""

    fail_share: float = 0.0
    seed: int = 6
    calls: int = 0
    accepted: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    ceiling_calls: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def app(self) -> web.Application:
        """The aiohttp app."""
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        app.router.add_post("/ceiling", self._ceiling)
        return app

    async def _ceiling(self, request: web.Request) -> web.Response:
        """The bare client's posts: read and answered like a hook call, counted apart."""
        await request.read()
        self.ceiling_calls += 1
        return web.Response(status=204)

    async def _hook(self, request: web.Request) -> web.Response:
        await request.read()
        self.calls += 1
        if self.fail_share and self._random.random() < self.fail_share:
            self.refused += 1
            return web.Response(status=500)
        self.accepted[request.headers.get("webhook-id", "")] += 1
        return web.Response(status=204)


@dataclass(frozen=True)
class FanoutFigures:
    """One fan-out round."""

    label: str
    tasks: int
    seconds: float
    delivered: int
    dead: int
    attempts: int
    refused: int
    twice: int
    never: int
    peak_memory_mb: float
    ceiling_per_second: float = 0.0
    concurrency: int = 0
    cpu_us_per_attempt: float = 0.0  # the worker process, all threads, while dispatching
    ceiling_cpu_us_per_post: float = 0.0

    @property
    def per_second(self) -> float:
        """Deliveries completed per second."""
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def of_ceiling(self) -> float:
        """Deliveries per second as a share of the bare client's posts per second."""
        return self.per_second / self.ceiling_per_second if self.ceiling_per_second else 0.0

    @property
    def ok(self) -> bool:
        """All delivered, none accepted twice."""
        return self.delivered == self.tasks and self.twice == 0 and self.never == 0


async def run_fanout(workdir: Path, tasks: int, fail_share: float, label: str) -> FanoutFigures:
    """One round against a fresh database."""
    hooks = HookReceiver(fail_share=fail_share)
    async with LocalServer(hooks.app()) as server:
        argv = pinned(python_argv(
            "-m", "bench.fanout_worker", "--database", str(workdir / f"fanout-{label}.db"),
            "--url", f"{server.url}/hook", "--count", str(tasks),
            "--ceiling-url", f"{server.url}/ceiling",
        ), SERVER_CORE)
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    data = _figures(out.decode(), err.decode())
    return FanoutFigures(
        label=label, tasks=tasks, seconds=data["seconds"],
        delivered=int(data["statuses"].get("delivered", 0)),
        dead=int(data["statuses"].get("dead", 0)), attempts=int(data["attempts"]),
        refused=hooks.refused, twice=sum(1 for n in hooks.accepted.values() if n > 1),
        never=tasks - len(hooks.accepted), peak_memory_mb=float(data["peak_memory_mb"]),
        ceiling_per_second=float(data["ceiling_per_second"]),
        concurrency=int(data["concurrency"]),
        cpu_us_per_attempt=float(data["cpu_us_per_attempt"]),
        ceiling_cpu_us_per_post=float(data["ceiling_cpu_us_per_post"]),
    )


def _figures(out: str, err: str) -> dict[str, Any]:
    for line in out.splitlines():
        if line.startswith("FANOUT "):
            return dict(json.loads(line[7:]))
    raise RuntimeError(f"fan-out worker printed no figures: {err[-2000:]}")


def fanout_table(rounds: list[FanoutFigures]) -> str:
    """One row per round."""
    lines = [
        "| receiver | tasks | seconds | deliveries/s | bare client posts/s | of ceiling"
        " | CPU µs/attempt | bare CPU µs/post | delivered | dead | attempts | refused"
        " | accepted twice | never accepted | worker peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rounds:
        lines.append(
            f"| {r.label} | {r.tasks:,} | {r.seconds:.1f} | {r.per_second:,.0f}"
            f" | {r.ceiling_per_second:,.0f} | {r.of_ceiling:.2f}"
            f" | {r.cpu_us_per_attempt:.0f} | {r.ceiling_cpu_us_per_post:.0f}"
            f" | {r.delivered:,} | {r.dead} | {r.attempts:,}"
            f" | {r.refused:,} | {r.twice} | {r.never} | {r.peak_memory_mb:.0f} |"
        )
    return "\n".join(lines)


FANOUT_TARGET = 0.5  # deliveries/s at least this share of the bare client's posts/s


def fanout_verdict(rounds: list[FanoutFigures]) -> str:
    """Whether the round where the receiver answers at once meets the target."""
    first = rounds[0]
    met = first.of_ceiling >= FANOUT_TARGET
    cpu = (first.ceiling_cpu_us_per_post / first.cpu_us_per_attempt
           if first.cpu_us_per_attempt else 0.0)
    return (
        f"fan-out vs a bare aiohttp client ({first.concurrency} at a time, same receiver):"
        f" {first.of_ceiling:.2f} x its posts/s (target {FANOUT_TARGET:g}):"
        f" {'met' if met else 'NOT met'}; by CPU per send {cpu:.2f} x"
    )
