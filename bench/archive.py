"""The archive part: how fast reelhook keeps a video, against a bare streaming copy into the
same store, in the same run; and how much memory keeping a large video takes (it streams, so it
should stay flat whatever the size)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bench.procs import python_argv
from receiver.sandbox.providers import LocalServer

HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"  # an MP4's first box
CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveRow:
    """One copy's figures."""

    mode: str
    megabytes: float
    seconds: float
    cpu: float
    idle_mb: float
    peak_mb: float

    @property
    def mb_per_second(self) -> float:
        """Throughput."""
        return self.megabytes / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_gb(self) -> float:
        """CPU seconds per GB copied."""
        return self.cpu / (self.megabytes / 1024) if self.megabytes else 0.0


def video_app(megabytes: int) -> web.Application:
    """Serves /video.mp4: `megabytes` MiB that start like an MP4, streamed (never in memory)."""
    async def video(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = megabytes * CHUNK
        await response.prepare(request)
        block = bytes(CHUNK)
        await response.write(HEAD + block[len(HEAD):])
        for _ in range(megabytes - 1):
            await response.write(block)
        return response

    app = web.Application()
    app.router.add_get("/video.mp4", video)
    return app


async def run_archive(workdir: Path, megabytes: int, rounds: int = 2) -> list[ArchiveRow]:
    """Copy the video with each mode, interleaved, `rounds` times; the best round of each."""
    rows: dict[str, list[ArchiveRow]] = {"reelhook": [], "bare": []}
    async with LocalServer(video_app(megabytes)) as server:
        for number in range(rounds):
            for mode in rows:
                folder = workdir / f"{mode}-{number}"
                rows[mode].append(await _copy(mode, f"{server.url}/video.mp4", folder))
                shutil.rmtree(folder, ignore_errors=True)  # a GiB a copy: keep the disk free
    return [min(found, key=lambda row: row.seconds) for found in rows.values()]


async def _copy(mode: str, url: str, folder: Path) -> ArchiveRow:
    argv = python_argv("-m", "bench.archive_copy", mode, url, str(folder))
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                   timeout=1800, check=True)
    figures = json.loads(done.stdout)
    return ArchiveRow(mode, figures["bytes"] / CHUNK, figures["seconds"], figures["cpu"],
                      figures["idle_mb"], figures["peak_mb"])


def archive_table(rows: list[ArchiveRow]) -> str:
    """The rows as a Markdown table."""
    lines = ["| copy | MiB | seconds | MiB/s | CPU s per GiB | RSS before | peak RSS | growth |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row.mode} | {row.megabytes:,.0f} | {row.seconds:.2f} | {row.mb_per_second:,.0f}"
            f" | {row.cpu_per_gb:.2f} | {row.idle_mb:.0f} MiB | {row.peak_mb:.0f} MiB"
            f" | {row.peak_mb - row.idle_mb:+.0f} MiB |"
        )
    return "\n".join(lines)
