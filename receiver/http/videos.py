"""GET /v1/tasks/{id}/video: the kept copy of a task's video, with the API token or a signed link.

A copy in a local folder is answered here, with its length, type, an ETag (its SHA-256) and byte
ranges (browsers seek in videos with Range); a copy in a cloud store is a 302 to a presigned URL.
"""

from __future__ import annotations

import re

from aiohttp import web

from receiver import keys
from receiver.errors import NotFound, RangeNotSatisfiable
from store.states import VIDEO_KEPT

PRESIGNED_LIFETIME = 300.0  # seconds a redirect's presigned URL stays valid
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")  # 18 digits: past any video's size


async def task_video(request: web.Request) -> web.StreamResponse:
    """GET /v1/tasks/{id}/video: the kept bytes (200 or 206), or a redirect to the cloud store."""
    task = await request.app[keys.TASKS].get(request.match_info["task_id"])
    status = task.get("video_status")
    if status != VIDEO_KEPT:
        why = "the task has no video yet" if status is None else f"video.status is {status}"
        raise NotFound(f"no kept copy of this task's video: {why}", field="id")
    store = request.app.get(keys.VIDEO_STORE)
    if store is None:
        raise NotFound("videos are not kept here (REELHOOK_VIDEO_STORE=off)", field="id")
    key, size = task["video_key"], task["video_bytes"]
    if key is None or size is None:  # written with the status; a row without them is not served
        raise NotFound("no kept copy of this task's video: its record is incomplete", field="id")
    if store.signs:
        raise web.HTTPFound(await store.signed_url(key, PRESIGNED_LIFETIME))
    etag = f'"{task["video_sha256"]}"'
    headers = {"Content-Type": task["video_content_type"] or "application/octet-stream",
               "ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600"}
    if _matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    asked = _range(request.headers.get("Range"), size, request.headers.get("If-Range"), etag)
    start, end = asked or (0, size)
    response = web.StreamResponse(status=206 if asked else 200, headers=headers)
    response.content_length = end - start
    if asked:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    await response.prepare(request)
    if request.method != "HEAD" and end > start:
        async for chunk in store.read(key, start, end):
            await response.write(chunk)
    await response.write_eof()
    return response


def _matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match holds `etag` (compared weakly, as RFC 9110 13.1.2 says), or is `*`."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _range(
    header: str | None, size: int, if_range: str | None, etag: str
) -> tuple[int, int] | None:
    """The byte range [start, end) asked for, or None for the whole video (no usable Range);
    RangeNotSatisfiable for a range that lies outside it."""
    if not header or (if_range is not None and if_range != etag):
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:  # several ranges, or another unit: the whole video, as RFC 9110 allows
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        if int(last) == 0 or size == 0:
            raise RangeNotSatisfiable(f"Range {header} asks for no bytes of the video's {size}",
                                      size, field="Range")
        return max(0, size - int(last)), size
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if start >= size or end <= start:
        raise RangeNotSatisfiable(f"Range {header} lies outside the video's {size} bytes",
                                  size, field="Range")
    return start, end
