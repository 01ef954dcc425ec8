"""A small load generator in Python (aiohttp client), for machines without wrk and for CI.

It is far slower than wrk and shares the Python interpreter's limits, so its figures compare the
servers with each other only roughly. It knows exactly which requests were acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp

from bench.load import LoadResult
from bench.payload import Target, callback_body


async def run_python(
    url: str,
    targets: Sequence[Target],
    *,
    connections: int,
    seconds: float,
    max_requests: int,
    seq_start: int = 0,
) -> LoadResult:
    """Send callbacks from `connections` workers until `seconds` pass or `max_requests` are sent."""
    state = _State(seq_start, seq_start + max_requests, time.monotonic() + seconds)
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:
        started = time.monotonic()
        await asyncio.gather(*(_worker(session, targets, state) for _ in range(connections)))
        elapsed = time.monotonic() - started
    return _result(state, elapsed)


class _State:
    def __init__(self, seq: int, last: int, deadline: float) -> None:
        self.seq, self.last, self.deadline = seq, last, deadline
        self.latencies: list[float] = []
        self.acked: set[int] = set()
        self.sent = self.errors = 0

    def next_seq(self) -> int | None:
        if self.seq >= self.last or time.monotonic() >= self.deadline:
            return None
        self.seq += 1
        return self.seq


async def _worker(session: aiohttp.ClientSession, targets: Sequence[Target], state: _State) -> None:
    while (seq := state.next_seq()) is not None:
        target = targets[seq % len(targets)]
        headers = {"Content-Type": "application/json", "x-webhook-secret": target.secret}
        started = time.perf_counter()
        state.sent += 1
        try:
            async with session.post(
                target.path, data=callback_body(target, seq), headers=headers
            ) as answer:
                await answer.read()
                ok = 200 <= answer.status < 300
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        state.latencies.append(time.perf_counter() - started)
        if ok:
            state.acked.add(seq)
        else:
            state.errors += 1


def _result(state: _State, elapsed: float) -> LoadResult:
    ordered = sorted(state.latencies) or [0.0]
    return LoadResult(
        generator="python",
        requests=state.sent,
        acknowledged=len(state.acked),
        errors=state.errors,
        seconds=elapsed,
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        acknowledged_seqs=state.acked,
    )
