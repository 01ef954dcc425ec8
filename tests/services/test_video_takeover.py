"""A `reelhook worker` killed (SIGKILL) while it copies a video: another worker takes the copy
over once the dead one's claim runs out, and keeps the video whole, once (PostgreSQL, real
processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from receiver.sandbox.providers import LocalServer
from receiver.sandbox.providers.videos import SAMPLE
from receiver.services.secrets import new_fernet_key
from store import EventIn, NewTask, Observation, open_store
from tests.databases import fresh_postgres
from tests.helpers import until

VIDEO = SAMPLE.read_bytes()
TASK = NewTask("tsk_" + "7" * 28, "piapi", "Qubico/skyreels", {})


class StallingHost:
    """Serves the first download half way, then holds it open; later ones whole."""

    def __init__(self) -> None:
        self.requests = 0
        self.stalled = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v.mp4", self._video)
        return app

    async def _video(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = len(VIDEO)
        await response.prepare(request)
        if self.requests == 1:
            await response.write(VIDEO[:1000])
            self.stalled.set()
            await asyncio.sleep(3600)
        await response.write(VIDEO)
        return response


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_postgres() as url:
        yield url


async def worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as out:  # the child keeps its own copy of the file
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "receiver", "worker",
            env={"PATH": os.environ["PATH"], **env}, stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )


async def test_a_killed_workers_copy_is_finished_by_another(pg_url: str, tmp_path: Path) -> None:
    host = StallingHost()
    async with LocalServer(host.app()) as server:
        store = await open_store(pg_url, video_wait=5.0)
        try:
            await store.create_task(TASK)
            done = Observation("succeeded", video_url=f"{server.url}/v.mp4")
            await store.record_event(TASK.id, EventIn("done", "callback", done))
            env = {"DATABASE_URL": pg_url, "REELHOOK_SECRET_KEY": new_fernet_key(),
                   "REELHOOK_VIDEO_STORE": str(tmp_path / "videos"),
                   "REELHOOK_VIDEO_TIMEOUT": "1", "PIAPI_BASE_URL": server.url,
                   "REELHOOK_EVENT_LOOP": "asyncio"}
            first = await worker(env, tmp_path / "first.log")
            await asyncio.wait_for(host.stalled.wait(), 30)  # the first worker is mid-copy
            claimed = await store.get_task(TASK.id)
            assert claimed["video_status"] == "pending" and claimed["video_claim_owner"]
            first.send_signal(signal.SIGKILL)
            await first.wait()
            assert not (tmp_path / "videos" / "videos").exists()  # nothing under a final name

            second = await worker(env, tmp_path / "second.log")
            try:
                async def kept() -> bool:
                    return (await store.get_task(TASK.id))["video_status"] == "kept"

                await until(kept, timeout=40, what="the second worker keeping the video")
            finally:
                second.send_signal(signal.SIGTERM)
                await second.wait()
            row = await store.get_task(TASK.id)
            assert row["video_claim_owner"] is None and row["video_bytes"] == len(VIDEO)
            assert (tmp_path / "videos" / row["video_key"]).read_bytes() == VIDEO
            assert host.requests == 2  # taken over once, not copied twice at once
        finally:
            await store.close()
