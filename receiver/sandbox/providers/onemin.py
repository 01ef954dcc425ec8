"""A local 1min.ai: the Asset API and the synchronous IMAGE_TO_VIDEO feature call.

`POST /api/assets` takes a multipart `asset` (JPG, PNG or WEBP up to 10 MB) and answers
{asset, fileContent}; `POST /api/features` checks that `promptObject.imageUrl` is an uploaded
path, then takes `script.delay` seconds (minutes at the real service) before answering with the
aiRecord. "[fail]" in a prompt answers status FAILED; `hang` never answers. `malformed` answers a
shape the real service does not send (see `OneminScript`). `GET /files/{name}` serves a small PNG
for tests that give an image URL.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from receiver.sandbox.providers.videos import VideoShelf

MAX_BYTES = 10 * 1024 * 1024
TYPES = {"image/jpeg", "image/png", "image/webp"}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass
class OneminScript:
    """How the simulator behaves; tests change these fields."""

    delay: float = 0.1
    hang: bool = False
    # A shape 1min.ai does not send: "detail_string" (aiRecordDetail a string), "result_dict"
    # (resultObject an object, no temporaryUrl), "file_content_list" (the asset answer's
    # fileContent a list) or "asset_list" (its asset a list, no fileContent); None: the real shape.
    malformed: str | None = None


class OneminSimulator:
    """The simulator's state: uploaded assets, feature calls received."""

    def __init__(self, api_key: str = "sim-onemin-key") -> None:
        self.api_key = api_key
        self.videos = VideoShelf()
        self.script = OneminScript()
        self.assets: dict[str, bytes] = {}
        self.received: list[dict[str, Any]] = []
        self.in_flight = 0
        self.base_url = ""
        self._ids = itertools.count(1)
        self._stopping = asyncio.Event()

    def app(self) -> web.Application:
        """The aiohttp app to serve."""
        app = web.Application(client_max_size=2 * MAX_BYTES)
        self.videos.add_routes(app)
        app.router.add_post("/api/assets", self._upload)
        app.router.add_post("/api/features", self._feature)
        app.router.add_get("/files/{name}", self._file)
        app.on_shutdown.append(self._stop)
        return app

    async def _stop(self, app: web.Application) -> None:
        self._stopping.set()

    async def _upload(self, request: web.Request) -> web.Response:
        if request.headers.get("API-KEY") != self.api_key:
            return web.json_response({"message": "Unauthorized"}, status=401)
        form = await request.post()
        asset = form.get("asset")
        if not isinstance(asset, web.FileField):
            return web.json_response({"message": "asset file is required"}, status=400)
        with asset.file:
            data = asset.file.read()
        if asset.content_type not in TYPES or len(data) > MAX_BYTES:
            return web.json_response({"message": "only JPG, PNG, WEBP up to 10MB"}, status=400)
        stamp = time.strftime("%Y_%m_%d_%H_%M_%S")
        path = f"images/{stamp}_{next(self._ids):03d}_{asset.filename}"
        self.assets[path] = data
        content = {
            "uuid": f"file-{len(self.assets)}",
            "path": path,
            "type": asset.content_type,
            "name": asset.filename,
        }
        answer: dict[str, Any] = {
            "asset": {"key": path, "location": f"{self.base_url}/{path}"},
            "fileContent": content,
        }
        if self.script.malformed == "file_content_list":
            answer["fileContent"] = [content]
        elif self.script.malformed == "asset_list":
            answer = {"asset": [answer["asset"]]}
        return web.json_response(answer)

    async def _feature(self, request: web.Request) -> web.Response:
        if request.headers.get("API-KEY") != self.api_key:
            return web.json_response({"message": "Unauthorized"}, status=401)
        body = await request.json()
        self.received.append({"headers": dict(request.headers), "body": body})
        problem = check_feature(body, self.assets)
        if problem is not None:
            return web.json_response({"message": problem}, status=400)
        self.in_flight += 1
        try:
            wait = 3600 if self.script.hang else self.script.delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=wait)
        finally:
            self.in_flight -= 1
        if self._stopping.is_set():
            return web.json_response({"message": "server is shutting down"}, status=503)
        return web.json_response(self._record(body))

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    def _record(self, body: dict[str, Any]) -> dict[str, Any]:
        uuid = f"record-{next(self._ids):06d}"
        failed = "[fail]" in body["promptObject"]["prompt"]
        detail: dict[str, Any] = {
            "promptObject": body["promptObject"],
            "resultObject": [] if failed else [f"development/videos/{uuid}.mp4"],
            "responseObject": {"error": "video generation failed"} if failed else {},
        }
        record = {
            "uuid": uuid,
            "userId": "user-sim",
            "teamId": "team-sim",
            "model": body["model"],
            "type": body["type"],
            "status": "FAILED" if failed else "SUCCESS",
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "aiRecordDetail": detail,
        }
        if not failed:
            # Presigned like 1min.ai's own (S3 signature v4): it stops working after an hour.
            signed = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            record["temporaryUrl"] = (f"{self.base_url}/videos/{uuid}.mp4?X-Amz-Date={signed}"
                                      "&X-Amz-Expires=3600&X-Amz-Signature=sim")
        if self.script.malformed == "detail_string":
            record["aiRecordDetail"] = "video generation failed"
            record["status"] = "FAILED"
        elif self.script.malformed == "result_dict":
            detail["resultObject"] = {"url": f"development/videos/{uuid}.mp4"}
            record.pop("temporaryUrl", None)
        return {"aiRecord": record}


def check_feature(body: Any, assets: dict[str, bytes]) -> str | None:
    """What 1min.ai refuses in a features call, or None."""
    if not isinstance(body, dict) or body.get("type") != "IMAGE_TO_VIDEO":
        return "type must be IMAGE_TO_VIDEO"
    if body.get("model") != "Qubico/skyreels" or body.get("conversationId") != "IMAGE_TO_VIDEO":
        return "model must be Qubico/skyreels with conversationId IMAGE_TO_VIDEO"
    prompt = body.get("promptObject")
    if not isinstance(prompt, dict) or not prompt.get("prompt"):
        return "promptObject.prompt is required"
    if prompt.get("imageUrl") not in assets:
        return "promptObject.imageUrl must be a path returned by the Asset API"
    if prompt.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "1:1"):
        return "aspect_ratio must be 16:9, 9:16 or 1:1"
    scale = prompt.get("guidance_scale", 3.5)
    if not isinstance(scale, int | float) or not 0 <= scale <= 10:
        return "guidance_scale must be within 0-10"
    return None
