"""Kept videos through the real app: a succeeded task's video is copied from the provider's
link into the video store (a local folder here, on both databases) and served by reelhook with
ranges and signed links, after the provider has forgotten it."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest

from receiver.cli.commands import main
from receiver.sandbox.providers.videos import SAMPLE
from tests.helpers import API_TOKEN, skyreels, wait_for_status

VIDEO = SAMPLE.read_bytes()


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


async def kept_task(client: Any) -> dict[str, Any]:
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    return dict(done)


async def test_a_succeeded_video_is_kept_and_served_after_the_link_dies(
    start_app: Any, piapi_sim: Any, tmp_path: Path
) -> None:
    client = await start_app(videos=_folder(tmp_path))
    done = await kept_task(client)
    video = done["video"]
    assert video["status"] == "kept" and video["error"] is None
    assert (video["bytes"], video["sha256"]) == (len(VIDEO), hashlib.sha256(VIDEO).hexdigest())
    assert video["content_type"] == "video/mp4" and video["kept_at"].endswith("Z")
    assert done["video_url"].startswith(piapi_sim.base_url)  # the provider's link stays
    assert (tmp_path / "videos" / "videos" / f"{done['id']}.mp4").read_bytes() == VIDEO

    piapi_sim.videos.forget()  # the provider's link is dead now
    answer = await client.get(f"/v1/tasks/{done['id']}/video")
    assert answer.status == 200 and await answer.read() == VIDEO
    assert answer.headers["Content-Type"] == "video/mp4"
    assert answer.headers["Content-Length"] == str(len(VIDEO))
    assert answer.headers["ETag"] == f'"{video["sha256"]}"'
    assert answer.headers["Accept-Ranges"] == "bytes"


async def test_byte_ranges_let_a_player_seek(start_app: Any, tmp_path: Path) -> None:
    client = await start_app(videos=_folder(tmp_path))
    done = await kept_task(client)
    path = f"/v1/tasks/{done['id']}/video"
    part = await client.get(path, headers={"Range": "bytes=100-199"})
    assert part.status == 206 and await part.read() == VIDEO[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(VIDEO)}"
    tail = await client.get(path, headers={"Range": "bytes=-10"})
    assert tail.status == 206 and await tail.read() == VIDEO[-10:]
    rest = await client.get(path, headers={"Range": f"bytes={len(VIDEO) - 5}-"})
    assert await rest.read() == VIDEO[-5:]
    whole = await client.get(path, headers={"Range": "bytes=0-"})  # what a <video> asks first
    assert whole.status == 206 and await whole.read() == VIDEO
    assert whole.headers["Content-Range"] == f"bytes 0-{len(VIDEO) - 1}/{len(VIDEO)}"
    past = await client.get(path, headers={"Range": f"bytes=0-{len(VIDEO) + 100}"})
    assert past.status == 206 and await past.read() == VIDEO
    for outside_range in (f"bytes={len(VIDEO)}-", "bytes=-0"):
        outside = await client.get(path, headers={"Range": outside_range})
        assert outside.status == 416
        assert (await outside.json())["error"]["field"] == "Range"
        assert outside.headers["Content-Range"] == f"bytes */{len(VIDEO)}"
    etag = part.headers["ETag"]
    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        same = await client.get(path, headers={"If-None-Match": if_none_match})
        assert same.status == 304, if_none_match
    other = await client.get(path, headers={"If-None-Match": '"other"'})
    assert other.status == 200 and await other.read() == VIDEO


async def test_a_signed_link_opens_the_video_without_the_token(
    start_app: Any, tmp_path: Path
) -> None:
    client = await start_app(videos=_folder(tmp_path))
    done = await kept_task(client)
    link = done["video"]["url"]
    assert link.startswith(f"{client.make_url('')}/v1/tasks/{done['id']}/video?expires=")
    anonymous = client.session  # the test client's session without its Authorization header
    opened = await anonymous.get(link, headers={"Authorization": ""})
    assert opened.status == 200 and await opened.read() == VIDEO
    forged = await anonymous.get(link[:-4] + "0000", headers={"Authorization": ""})
    assert forged.status == 401
    assert (await forged.json())["error"]["field"] == "sig"
    other = await (await client.post("/v1/tasks", json=skyreels())).json()
    moved = link.replace(done["id"], other["id"])  # a link opens only its own task's video
    assert (await anonymous.get(moved, headers={"Authorization": ""})).status == 401
    bare = await anonymous.get(client.make_url(f"/v1/tasks/{done['id']}/video"),
                               headers={"Authorization": ""})
    assert bare.status == 401
    for query in ("expires=99999999999&sig=%C3%BE", "expires=%C2%B2&sig=ab"):  # þ, ²
        odd = await anonymous.get(client.make_url(f"/v1/tasks/%C3%81/video?{query}"),
                                  headers={"Authorization": ""})
        assert odd.status == 401, query  # refused, not a 500


async def test_nothing_kept_is_a_clear_404(start_app: Any, piapi_sim: Any) -> None:
    client = await start_app(videos=_off())
    done = await kept_task(client)
    assert done["video"]["status"] == "off" and done["video"]["url"] is None
    missing = await client.get(f"/v1/tasks/{done['id']}/video")
    assert missing.status == 404
    assert "video.status is off" in (await missing.json())["error"]["message"]
    running = await (await client.post("/v1/tasks", json=skyreels(prompt="[hang] x"))).json()
    answer = await client.get(f"/v1/tasks/{running['id']}/video")
    assert answer.status == 404 and "no video yet" in (await answer.json())["error"]["message"]


async def test_backfill_then_get_from_the_command_line(
    start_app: Any, settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await start_app(videos=_off())
    done = await kept_task(client)
    await client.close()
    client = await start_app(videos=_folder(tmp_path))
    for name, value in _env(settings, tmp_path, client).items():
        monkeypatch.setenv(name, value)
    assert await asyncio.to_thread(main, ["videos", "backfill"]) == 0
    assert "queued 1 video copies" in capsys.readouterr().out
    kept = await wait_for_status(client, done["id"])
    for _ in range(200):
        if kept["video"]["status"] == "kept":
            break
        await asyncio.sleep(0.05)
        kept = await (await client.get(f"/v1/tasks/{done['id']}")).json()
    assert kept["video"]["status"] == "kept"
    target = tmp_path / "got.mp4"
    assert await asyncio.to_thread(main, ["videos", "get", done["id"], "-o", str(target)]) == 0
    assert target.read_bytes() == VIDEO


def _folder(tmp_path: Path) -> Any:
    from receiver.settings import VideoSettings

    return VideoSettings(store=str(tmp_path / "videos"))


def _off() -> Any:
    from receiver.settings import VideoSettings

    return VideoSettings(store="off")


def _env(settings: Any, tmp_path: Path, client: Any) -> dict[str, str]:
    database = settings.database
    env = {"REELHOOK_VIDEO_STORE": str(tmp_path / "videos"), "REELHOOK_API_TOKEN": API_TOKEN,
           "REELHOOK_URL": str(client.make_url("")).rstrip("/"),
           "REELHOOK_SECRET_KEY": settings.secret_key.decode()}
    env["DATABASE_URL" if database.startswith("postgres") else "REELHOOK_DATABASE"] = database
    return env
