"""A local APIMart: video generations and Get Task, as APIMart documents them. No webhooks.

It refuses a wrong Bearer key (401) and what the seed's constraint table says earns a 422, answers
{code: 200, data: [{status: "submitted", task_id}]}, and moves each task pending → processing →
completed (or failed) as time passes, seen only through `GET /v1/tasks/{id}`. The video URL is a
list by default (`url_as_list`), as APIMart shows it. "[fail]" in a prompt fails the task;
`never_finish` keeps every task processing.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from receiver.sandbox.providers.videos import VideoShelf

MODELS = ("skyreels-v4-fast", "skyreels-v4-std")


@dataclass
class ApimartScript:
    """How the simulator behaves; tests change these fields."""

    step_delay: float = 0.05
    never_finish: bool = False
    poll_delay: float = 0.0  # seconds each Get Task answer takes (a slow provider)
    url_as_list: bool = True


class ApimartSimulator:
    """The simulator's state: tasks, what it received, how often it was polled."""

    def __init__(self, api_key: str = "sim-apimart-key") -> None:
        self.api_key = api_key
        self.videos = VideoShelf()
        self.script = ApimartScript()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []
        self.polls: dict[str, int] = {}
        self.polls_waiting = 0  # Get Task calls being answered now
        self.base_url = ""
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        """The aiohttp app to serve."""
        app = web.Application()
        self.videos.add_routes(app)
        app.router.add_post("/v1/videos/generations", self._create)
        app.router.add_get("/v1/tasks/{task_id}", self._get)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid API key", "authentication_error")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not JSON", "invalid_request_error")
        self.received.append({"headers": dict(request.headers), "body": body})
        problem = check_body(body)
        if problem is not None:
            return _error(422, problem, "invalid_request_error")
        task_id = f"task_01SIM{next(self._ids):06d}{int(time.time())}"
        self.tasks[task_id] = {"body": body, "created": time.time()}
        return web.json_response(
            {"code": 200, "data": [{"status": "submitted", "task_id": task_id}]}
        )

    async def _get(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid API key", "authentication_error")
        task_id = request.match_info["task_id"]
        if task_id not in self.tasks:
            return _error(404, "task not found", "not_found_error")
        self.polls[task_id] = self.polls.get(task_id, 0) + 1
        if self.script.poll_delay:
            self.polls_waiting += 1
            try:
                await asyncio.sleep(self.script.poll_delay)
            finally:
                self.polls_waiting -= 1
        return web.json_response({"code": 200, "data": self._view(task_id)})

    def _view(self, task_id: str) -> dict[str, Any]:
        task = self.tasks[task_id]
        age = time.time() - task["created"]
        view: dict[str, Any] = {
            "id": task_id,
            "status": "pending",
            "progress": 0,
            "result": None,
            "created": int(task["created"]),
            "completed": None,
            "estimated_time": 60,
            "actual_time": None,
            "error": None,
        }
        if age >= self.script.step_delay:
            view.update(status="processing", progress=50)
        if age < 2 * self.script.step_delay or self.script.never_finish:
            return view
        view.update(completed=int(task["created"] + age), actual_time=int(age))
        if "[fail]" in str(task["body"].get("prompt", "")):
            view.update(
                status="failed",
                error={"code": "generation_failed", "message": "the video could not be generated"},
            )
            return view
        url = f"{self.base_url}/videos/{task_id}.mp4"
        view.update(
            status="completed",
            progress=100,
            result={"videos": [{"url": [url] if self.script.url_as_list else url}]},
        )
        return view


def check_body(body: Any) -> str | None:
    """What APIMart answers 422 for (the seed's Parameter Constraints), or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if body.get("model") not in MODELS:
        return "model must be skyreels-v4-fast or skyreels-v4-std"
    if not body.get("prompt"):
        return "prompt is required"
    duration = body.get("duration", 5)
    if not isinstance(duration, int) or isinstance(duration, bool) or not 3 <= duration <= 15:
        return "duration must be in [3, 15]"
    if body.get("resolution", "1080p") not in ("480p", "720p", "1080p"):
        return "resolution must be 480p, 720p or 1080p"
    if body.get("aspect_ratio", "16:9") not in ("16:9", "4:3", "1:1", "9:16", "3:4"):
        return "aspect_ratio must be 16:9, 4:3, 1:1, 9:16 or 3:4"
    return _check_modes(body, duration)


def _check_modes(body: dict[str, Any], duration: int) -> str | None:
    i2v = any(
        body.get(name) for name in ("first_frame_image", "end_frame_image", "mid_frame_images")
    )
    if i2v and (body.get("ref_images") or body.get("ref_videos")):
        return "I2V fields and Omni fields cannot be used together"
    mids, images, videos = (
        body.get(n) or [] for n in ("mid_frame_images", "ref_images", "ref_videos")
    )
    if len(mids) > 6:
        return "mid_frame_images takes at most 6 items"
    for mid in mids:
        stamp = mid.get("time_stamp")
        if stamp != -1 and not (isinstance(stamp, int | float) and 0 < stamp < duration):
            return "time_stamp must be -1 or within (0, duration)"
    if len({image.get("type") for image in images}) > 1:
        return "ref_images must share the same type"
    if (
        images
        and images[0].get("type") == "grid"
        and (len(images) != 1 or len(images[0].get("image_urls") or []) != 1)
    ):
        return "ref_images of type grid must be 1 item with 1 image"
    if images and images[0].get("type") == "image" and not 1 <= len(images) <= 3:
        return "ref_images of type image must be 1 to 3 items"
    if len(videos) > 1:
        return "ref_videos takes at most 1 item"
    if images and any(video.get("type") == "extend" for video in videos):
        return "ref_videos of type extend cannot be combined with ref_images"
    for item in [*mids, *images, *videos]:
        tag = str(item.get("tag", ""))
        if not tag.startswith("@") or not re.search(re.escape(tag), body["prompt"]):
            return f"tag {tag!r} must start with @ and appear in the prompt"
    return None


def _error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response(
        {"error": {"code": status, "message": message, "type": kind}}, status=status
    )
