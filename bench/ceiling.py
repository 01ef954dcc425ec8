"""The fan-out's ceiling: what a bare aiohttp client posts per second to a webhook receiver.

`ceiling()` runs inside the fan-out worker process (bench/fanout_worker.py); `python -m
bench.ceiling` runs it in a process of its own, after the worker processes of the PostgreSQL
fan-out (bench/databases.py), and prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence

import aiohttp


async def ceiling(url: str, count: int, concurrency: int) -> float:
    """Posts per second a bare aiohttp client makes to `url`: `count` posts of a webhook-sized
    body, `concurrency` at a time, with no database and no signing: what the fan-out could reach."""
    body = json.dumps({"type": "task.succeeded", "timestamp": "2026-01-01T00:00:00Z",
                       "data": {"id": "tsk_" + "0" * 28, "status": "succeeded",
                                "video_url": "https://videos.example.com/x.mp4",
                                "padding": "x" * 400}}).encode()
    headers = {"Content-Type": "application/json", "webhook-id": "ceiling"}
    left = count

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
        return count / (time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse options, measure, print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling")
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args(argv)
    cpu = time.process_time()
    per_second = asyncio.run(ceiling(args.url, args.count, args.concurrency))
    cpu_us = (time.process_time() - cpu) / max(1, args.count) * 1e6
    print("CEILING " + json.dumps({"per_second": per_second, "cpu_us_per_post": cpu_us}))


if __name__ == "__main__":
    main()
