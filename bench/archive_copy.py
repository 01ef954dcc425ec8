"""One copy of a video in a process of its own, so its memory is its own: `reelhook` copies it as
the keeper does (receiver/services/videos: the guarded client, the checks, SHA-256, a temporary
key then a move), `bare` pipes an aiohttp download straight into the same store. Prints JSON:
seconds, CPU seconds, resident memory before the copy and at its peak (MiB)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import obstore
from obstore.store import LocalStore

from bench.procs import own_peak_memory_mb
from dispatcher.outgoing import outgoing_client
from receiver.services.videos.copying import CHUNK, Copier
from receiver.services.videos.storage import VideoStore


async def reelhook_copy(url: str, folder: Path) -> int:
    """The keeper's copy; the bytes kept."""
    async with outgoing_client(allow_private=True) as http:
        copier = Copier(http, VideoStore.from_setting(str(folder), {}), 1 << 40, True)
        return (await copier.copy("tsk_bench", url)).bytes


async def bare_copy(url: str, folder: Path) -> int:
    """A download piped into the store as it comes: no checks, no hash, no temporary key."""
    store = LocalStore(folder, mkdir=True)
    async with aiohttp.ClientSession() as session, session.get(url) as response:

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in response.content.iter_chunked(CHUNK):
                yield chunk

        await obstore.put_async(store, "bare.mp4", chunks())
    return int((await obstore.head_async(store, "bare.mp4"))["size"])


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    """Copy once and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("reelhook", "bare"))
    parser.add_argument("url")
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    copy = reelhook_copy if args.mode == "reelhook" else bare_copy
    idle = _rss_mb()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    size = asyncio.run(copy(args.url, args.folder))
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    json.dump({"bytes": size, "seconds": seconds, "cpu": cpu, "idle_mb": idle,
               "peak_mb": own_peak_memory_mb()}, sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    status = main()
    # Leave without the interpreter's teardown: obstore's runtime threads have been seen to
    # abort (SIGABRT) while Python shuts down after a large copy, after the figures were out.
    os._exit(status)
