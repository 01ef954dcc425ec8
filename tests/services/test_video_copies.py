"""How one video copy ends, against a real video server on loopback that misbehaves on purpose,
into a real local folder and a real S3-compatible server (moto), on both databases: a clear
record for every fault, nothing half-written under a video's name, nothing lost."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from moto.server import ThreadedMotoServer

from dispatcher.outgoing import outgoing_client
from receiver.sandbox.providers.serve import LocalServer
from receiver.sandbox.providers.videos import SAMPLE
from receiver.services.videos.copying import Copier
from receiver.services.videos.keeper import VideoKeeper
from receiver.services.videos.storage import VideoStore
from receiver.settings import VideoSettings
from store import EventIn, NewTask, Observation, TaskStore, open_store
from tests.helpers import skyreels, wait_for_status

VIDEO = SAMPLE.read_bytes()


class FakeVideoHost:
    """A provider's video host: good, slow, broken and hostile answers."""

    def __init__(self) -> None:
        self.elsewhere = ""  # a URL on another loopback port (not a provider's host)

    def app(self) -> web.Application:
        app = web.Application()
        for path, handler in {
            "/ok.mp4": self._ok, "/slow.mp4": self._slow, "/error.html": self._html,
            "/huge.mp4": self._huge, "/cut.mp4": self._cut, "/busy.mp4": self._busy,
            "/gone.mp4": self._gone, "/elsewhere.mp4": self._elsewhere, "/hop.mp4": self._hop,
        }.items():
            app.router.add_get(path, handler)
        return app

    async def _ok(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(SAMPLE)

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        await response.prepare(request)
        for start in range(0, len(VIDEO), 200):
            await response.write(VIDEO[start:start + 200])
            await asyncio.sleep(0.02)
        return response

    async def _html(self, request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Access denied</body></html>",
                            content_type="text/html")

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = 3 * 1024**3
        await response.prepare(request)
        await response.write(VIDEO[:64])
        await asyncio.sleep(5)
        return response

    async def _cut(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = len(VIDEO)
        await response.prepare(request)
        await response.write(VIDEO[: len(VIDEO) // 2])
        assert request.transport is not None
        request.transport.close()  # the connection dies half way
        return response

    async def _busy(self, request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy", headers={"Retry-After": "120"})

    async def _gone(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="expired")

    async def _elsewhere(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.elsewhere)

    async def _hop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok.mp4")


@dataclass
class World:
    store: TaskStore
    keeper: VideoKeeper
    videos: VideoStore
    folder: Path
    base: str

    async def succeeded(self, name: str, expires_at: float | None = None) -> str:
        number = len(await self.store.list_tasks(limit=200)) + 1
        new = NewTask(f"tsk_{number:028d}", "piapi", "Qubico/skyreels", {})
        await self.store.create_task(new)
        seen = Observation("succeeded", video_url=f"{self.base}/{name}",
                           video_expires_at=expires_at)
        await self.store.record_event(new.id, EventIn("done", "callback", seen))
        return new.id

    async def copy(self, task_id: str) -> dict[str, Any]:
        await self.keeper.keep_due()
        return await self.store.get_task(task_id)

    def leftovers(self) -> list[Path]:
        return [p for p in self.folder.rglob("*")
                if p.is_file() and p.relative_to(self.folder).parts[0] == "tmp"]


@pytest.fixture
async def world(database: str, tmp_path: Path) -> AsyncIterator[World]:
    host = FakeVideoHost()
    async with LocalServer(host.app()) as server, LocalServer(FakeVideoHost().app()) as other:
        host.elsewhere = f"{other.url}/ok.mp4"
        store = await open_store(database, video_wait=30.0)
        folder = tmp_path / "videos"
        videos = VideoStore.from_setting(str(folder), {})
        # Production rules: the address guard on; only the provider's own host is trusted.
        trusted = frozenset({("127.0.0.1", server.port)})
        async with outgoing_client(allow_private=False, trusted=trusted) as http:
            copier = Copier(http, videos, 1 << 20, allow_private=False, trusted=trusted)
            keeper = VideoKeeper(store, copier, "keeper-1", timeout=10.0)
            yield World(store, keeper, videos, folder, server.url)
        await store.close()


@pytest.mark.parametrize("name", ["ok.mp4", "slow.mp4", "hop.mp4"])
async def test_a_good_link_is_kept_whole(world: World, name: str) -> None:
    task = await world.copy(await world.succeeded(name))
    assert (task["video_status"], task["video_bytes"]) == ("kept", len(VIDEO))
    assert (world.folder / task["video_key"]).read_bytes() == VIDEO
    assert world.leftovers() == []


async def test_an_html_error_page_is_not_kept_as_a_video(world: World) -> None:
    task = await world.copy(await world.succeeded("error.html"))
    assert task["video_status"] == "failed"
    assert "did not answer with a video" in task["video_error"]
    assert "text/html" in task["video_error"]
    assert world.leftovers() == [] and not (world.folder / "videos").exists()


async def test_a_video_over_the_cap_is_refused_from_its_length_or_while_it_streams(
    world: World,
) -> None:
    task = await world.copy(await world.succeeded("huge.mp4"))
    assert task["video_status"] == "failed"
    assert "REELHOOK_VIDEO_MAX_BYTES" in task["video_error"] and "3221225472" in task["video_error"]
    world.keeper.copier.max_bytes = len(VIDEO) // 2  # no length given: counted while it streams
    streamed = await world.copy(await world.succeeded("slow.mp4"))
    assert streamed["video_status"] == "failed"
    assert "larger than REELHOOK_VIDEO_MAX_BYTES" in streamed["video_error"]
    assert world.leftovers() == []


async def test_a_download_cut_half_way_leaves_nothing_and_is_tried_again(world: World) -> None:
    before = time.time()
    task = await world.copy(await world.succeeded("cut.mp4"))
    assert task["video_status"] == "pending" and task["video_attempts"] == 1
    assert "downloading the video failed" in task["video_error"]
    assert task["video_next_at"] >= before + 10  # backed off
    assert world.leftovers() == [] and not (world.folder / "videos").exists()


async def test_a_busy_host_is_asked_again_after_its_retry_after(world: World) -> None:
    before = time.time()
    task = await world.copy(await world.succeeded("busy.mp4"))
    assert task["video_status"] == "pending" and "HTTP 503" in task["video_error"]
    assert task["video_next_at"] >= before + 120


async def test_a_dead_link_fails_with_the_reason(world: World) -> None:
    task = await world.copy(await world.succeeded("gone.mp4"))
    assert (task["video_status"], task["video_error"]) == (
        "failed", "the video link answered HTTP 404"
    )


async def test_a_redirect_to_a_private_address_is_refused(world: World) -> None:
    task = await world.copy(await world.succeeded("elsewhere.mp4"))
    assert task["video_status"] == "failed"
    assert "refused" in task["video_error"] and "private" in task["video_error"]


async def test_a_link_that_expires_first_fails_with_when(world: World) -> None:
    expired = await world.copy(await world.succeeded("ok.mp4", expires_at=time.time() - 1))
    assert expired["video_status"] == "failed" and "expired" in expired["video_error"]
    soon = await world.copy(await world.succeeded("busy.mp4", expires_at=time.time() + 60))
    assert soon["video_status"] == "failed"
    assert "HTTP 503" in soon["video_error"] and "expires at" in soon["video_error"]


async def test_retention_deletes_old_copies_and_says_so(world: World) -> None:
    task = await world.copy(await world.succeeded("ok.mp4"))
    world.keeper.keep_days = 1
    assert await world.keeper.prune_if_due(time.time() + 2 * 86400) == 1
    pruned = await world.store.get_task(task["id"])
    assert pruned["video_status"] == "deleted" and "REELHOOK_VIDEO_KEEP_DAYS" in pruned[
        "video_error"]
    assert not (world.folder / task["video_key"]).exists()


@pytest.fixture(scope="module")
def s3() -> Any:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    httpx.put(f"{endpoint}/kept-videos").raise_for_status()  # make the bucket
    yield {"endpoint": endpoint, "region": "us-east-1", "access_key_id": "test",
           "secret_access_key": "test-secret", "allow_http": "true"}
    server.stop()


async def test_a_copy_goes_to_s3_and_is_served_by_a_presigned_redirect(
    start_app: Any, s3: dict[str, str], piapi_sim: Any
) -> None:
    client = await start_app(videos=VideoSettings(store="s3://kept-videos/reelhook",
                                                  store_options=s3))
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    done = await wait_for_status(client, task["id"])
    assert done["video"]["status"] == "kept" and done["video"]["bytes"] == len(VIDEO)
    piapi_sim.videos.forget()
    answer = await client.get(f"/v1/tasks/{task['id']}/video", allow_redirects=False)
    assert answer.status == 302
    presigned = answer.headers["Location"]
    assert presigned.startswith(f"{s3['endpoint']}/kept-videos/reelhook/videos/")
    assert "X-Amz-Signature=" in presigned and "test-secret" not in presigned
    assert httpx.get(presigned).content == VIDEO


async def test_a_video_store_that_refuses_shows_in_healthz_and_metrics_and_loses_nothing(
    start_app: Any, s3: dict[str, str], webhook_sink: Any
) -> None:
    client = await start_app(videos=VideoSettings(store="s3://no-such-bucket/x",
                                                  store_options=s3, wait=4.0))
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": webhook_sink.secret}]
    task = await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    assert webhook_sink.received == []  # waiting for the copy kept or failed (REELHOOK_VIDEO_WAIT)
    assert done["video"]["status"] == "pending" and "video store" in done["video"]["error"]
    health = await (await client.get("/healthz")).json()
    assert health["ok"] is True and "video store" in health["videos"]["trouble"]
    assert health["videos"]["store"] == "s3://no-such-bucket/x"
    assert "test-secret" not in json.dumps(health)
    # Past REELHOOK_VIDEO_WAIT the notice goes with the provider's link; the copy goes on.
    [sent] = await webhook_sink.wait_for(1, timeout=20)
    assert sent.body["data"]["video"]["status"] == "pending"
    text = await (await client.get("/metrics")).text()
    assert "reelhook_video_store_up 0.0" in text
    assert 'reelhook_videos{status="pending"} 1.0' in text
