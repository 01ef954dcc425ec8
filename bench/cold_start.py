"""Cold starts (issue 24.4): process start to the first `/healthz` 200, and an idle `tick`.

`python -m bench.cold_start [--runs 10]` starts, in turn (A B A B ...), a bare aiohttp app
that answers `/healthz` and `reelhook serve` on an existing SQLite file, and times each from
the process's start to its first 200 (asked every 2 ms); then times `reelhook tick` with nothing
to do, beside `python -c pass`. Medians and the pair-by-pair ratio. Figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

BARE_APP = """
import sys
from aiohttp import web
async def healthz(request): return web.json_response({"ok": True})
app = web.Application()
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""
API_TOKEN = "bench-cold-start-token-0123456789abcdef"


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seconds_to_first_200(argv: list[str], env: dict[str, str], port: int) -> float:
    """Start `argv`, ask /healthz until it answers 200; the seconds since the start."""
    began = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(timeout=1.0) as http:
            while time.perf_counter() - began < 30:
                try:
                    if http.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        return time.perf_counter() - began
                except httpx.TransportError:
                    time.sleep(0.002)
        raise RuntimeError(f"{argv} never answered 200")
    finally:
        process.terminate()
        process.wait()


def seconds_of(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of a command run to its end."""
    began = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def pairs(runs: int, first: object, second: object) -> tuple[list[float], list[float]]:
    """`runs` interleaved timings of two zero-argument callables (after one warm-up each)."""
    a: list[float] = []
    b: list[float] = []
    for index in range(runs + 1):
        one, two = first(), second()  # type: ignore[operator]
        if index:
            a.append(one)
            b.append(two)
    return a, b


def line(name: str, a: list[float], b: list[float], other: str) -> str:
    """One Markdown row: medians and the median of the pair-by-pair ratios."""
    return (f"| {name} | {statistics.median(a) * 1000:.0f} | {other} |"
            f" {statistics.median(b) * 1000:.0f} | {ratio(a, b):.2f} |")


def ratio(a: list[float], b: list[float]) -> float:
    """The median of the pair-by-pair ratios a / b."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class ColdStarts:
    """Seconds of each run: serve to its first 200 beside a bare app's, an idle tick beside
    `python -c pass`."""

    serve: list[float]
    bare: list[float]
    tick: list[float]
    nothing: list[float]

    @property
    def serve_ratio(self) -> float:
        """Serve's cold start against the bare app's (median of the pairs)."""
        return ratio(self.serve, self.bare)

    @property
    def idle_tick(self) -> float:
        """The median seconds of an idle tick."""
        return statistics.median(self.tick)

    def table(self) -> str:
        """The Markdown table."""
        return "\n".join((
            "| command | median ms | against | median ms | ratio (median of pairs) |",
            "|---|---:|---|---:|---:|",
            line("`reelhook serve` to its first /healthz 200", self.serve, self.bare,
                 "a bare aiohttp app"),
            line("`reelhook tick`, nothing to do", self.tick, self.nothing, "`python -c pass`"),
        ))

    def targets(self) -> list[str]:
        """Issue 24.4's two lines of the Targets summary."""
        return [
            f"- cold start {self.serve_ratio:.2f}x a bare aiohttp app's (≤ 1.5):"
            f" {'met' if self.serve_ratio <= 1.5 else 'NOT met'}",
            f"- an idle tick {self.idle_tick:.2f} s (≤ 0.3 s):"
            f" {'met' if self.idle_tick <= 0.3 else 'NOT met'}",
        ]


def measure(runs: int) -> ColdStarts:
    """`runs` interleaved cold starts of each, on a fresh SQLite file."""
    with tempfile.TemporaryDirectory(prefix="reelhook-cold-") as tmp:
        database = str(Path(tmp) / "reelhook.db")
        env = {"PATH": os.environ["PATH"], "REELHOOK_DATABASE": database, "HOME": tmp,
               "REELHOOK_API_TOKEN": API_TOKEN, "REELHOOK_HOST": "127.0.0.1"}
        seconds_of([sys.executable, "-m", "receiver", "migrate"], env)
        port = free_port()
        serve = [sys.executable, "-m", "receiver", "serve"]
        bare = [sys.executable, "-c", BARE_APP, str(port)]
        started, bare_started = pairs(
            runs,
            lambda: seconds_to_first_200(serve, env | {"PORT": str(port)}, port),
            lambda: seconds_to_first_200(bare, env, port))
        tick, nothing = pairs(
            runs,
            lambda: seconds_of([sys.executable, "-m", "receiver", "tick"], env),
            lambda: seconds_of([sys.executable, "-c", "pass"], env))
    return ColdStarts(started, bare_started, tick, nothing)


def main() -> int:
    """Time both and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(measure(args.runs).table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
