"""A local Wave: Create, Get and Cancel Task, callbacks, and the 5-queued-task limit.

It refuses what Wave refuses (a wrong Bearer key, fields outside the seed's limits: 422), answers
429 once 5 tasks of the account are unfinished, honours Idempotency-Key, and POSTs
{event, data: task} to `callback_url` for each subscribed event (queued, running, succeeded,
failed). Script switches give the documented variants: `result.videos[].url` as a list, times in
seconds instead of milliseconds, progress as "100%". Put "[fail]" in a prompt to fail a task;
with `manual`, tasks stay processing until `finish(task_id)`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from receiver.sandbox.providers.serve import Background
from receiver.sandbox.providers.videos import VideoShelf

MODELS = ("skyreels-v4-fast", "skyreels-v4-std")
DEFAULT_EVENTS = ("succeeded", "failed")


@dataclass
class WaveScript:
    """How the simulator behaves; tests change these fields."""

    step_delay: float = 0.05
    manual: bool = False
    drop_callbacks: bool = False
    url_as_list: bool = False
    times_in_seconds: bool = False
    progress_as_text: bool = False
    max_queued: int = 5
    # The next this-many creates are carried out, but their answer never comes (the request
    # hangs until the simulator stops), like an answer lost to a crash of the caller.
    lose_answers: int = 0


@dataclass
class SentCallback:
    """One callback the simulator sent and the receiver's answer."""

    task_id: str
    event: str
    answer: int | None


class WaveSimulator:
    """The simulator's state: tasks, what it received and what it sent."""

    def __init__(self, api_key: str = "sim-wave-key") -> None:
        self.api_key = api_key
        self.videos = VideoShelf()
        self.script = WaveScript()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.hooks: dict[str, tuple[str, list[str]]] = {}
        self.received: list[dict[str, Any]] = []
        self.refused: list[int] = []
        self.sent: list[SentCallback] = []
        self.base_url = ""
        self._keys: dict[str, str] = {}
        self._gates: dict[str, asyncio.Event] = {}
        self._ids = itertools.count(1)
        self._background = Background()
        self._stopping = asyncio.Event()

    def app(self) -> web.Application:
        """The aiohttp app to serve."""
        app = web.Application()
        self.videos.add_routes(app)
        app.router.add_post("/v1/tasks", self._create)
        app.router.add_get("/v1/tasks/{task_id}", self._get)
        app.router.add_post("/v1/tasks/{task_id}/cancel", self._cancel)
        app.cleanup_ctx.append(self._background.lifetime)
        app.on_shutdown.append(self._stop)
        return app

    async def _stop(self, app: web.Application) -> None:
        self._stopping.set()

    def finish(self, task_id: str) -> None:
        """Let a task held by `manual` finish."""
        self._gates.setdefault(task_id, asyncio.Event()).set()

    async def wait_idle(self) -> None:
        """Wait until every running task has finished and sent its callbacks."""
        await self._background.wait_idle()

    def unfinished(self) -> list[str]:
        """Ids of tasks that are queued or processing."""
        return [
            t["task_id"] for t in self.tasks.values() if t["status"] in ("queued", "processing")
        ]

    async def _create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "unauthorized", "invalid API key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_json", "request body is not JSON")
        self.received.append({"headers": dict(request.headers), "body": body})
        key = request.headers.get("Idempotency-Key")
        if key and key in self._keys:
            return web.json_response(self._summary(self.tasks[self._keys[key]]))
        problem = check_body(body)
        if problem is not None:
            return _error(422, "invalid_parameter", problem)
        if len(self.unfinished()) >= self.script.max_queued:
            self.refused.append(429)
            limit = self.script.max_queued
            return _error(429, "concurrency_limit", f"at most {limit} queued tasks per account")
        task = self._new_task(body)
        if key:
            self._keys[key] = task["task_id"]
        self._start(task["task_id"])
        if self.script.lose_answers > 0:
            self.script.lose_answers -= 1
            await self._stopping.wait()
            return _error(503, "shutting_down", "server is shutting down")
        return web.json_response(self._summary(task))

    async def _get(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "unauthorized", "invalid API key")
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return _error(404, "not_found", "task not found")
        return web.json_response(self._view(task))

    async def _cancel(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "unauthorized", "invalid API key")
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return _error(404, "not_found", "task not found")
        if task["status"] != "queued":
            return _error(409, "invalid_state", "a task can only be cancelled while queued")
        task["status"] = "cancelled"
        return web.json_response(self._view(task))

    def _new_task(self, body: dict[str, Any]) -> dict[str, Any]:
        task_id = f"task-wave{int(time.time())}{next(self._ids):06d}"
        task: dict[str, Any] = {
            "task_id": task_id,
            "model": body["model"],
            "action": body.get("action", "generate"),
            "status": "queued",
            "created_at": time.time(),
            "completed_at": None,
            "progress": 0,
            "result": None,
            "error": None,
            "prompt": body.get("prompt", ""),
        }
        self.tasks[task_id] = task
        if body.get("callback_url"):
            events = body.get("callback_events") or list(DEFAULT_EVENTS)
            self.hooks[task_id] = (body["callback_url"], list(events))
        return task

    def _start(self, task_id: str) -> None:
        self._background.start(self._run(task_id))

    async def _run(self, task_id: str) -> None:
        task = self.tasks[task_id]
        await self._notify(task_id, "queued")
        await asyncio.sleep(self.script.step_delay)
        if task["status"] == "cancelled":
            return
        task.update(status="processing", progress=40)
        await self._notify(task_id, "running")
        if self.script.manual:
            await self._gates.setdefault(task_id, asyncio.Event()).wait()
        else:
            await asyncio.sleep(self.script.step_delay)
        self._finish(task)
        await self._notify(task_id, "failed" if task["status"] == "failed" else "succeeded")

    def _finish(self, task: dict[str, Any]) -> None:
        task["completed_at"] = time.time()
        if "[fail]" in task["prompt"]:
            task.update(
                status="failed", error={"message": "content moderation failed", "code": 1301}
            )
            return
        url = f"{self.base_url}/videos/{task['task_id']}.mp4"
        task.update(status="completed", progress=100)
        task["result"] = {
            "videos": [{"url": [url] if self.script.url_as_list else url}],
            "expires_at": time.time() + 86400,
        }

    def _summary(self, task: dict[str, Any]) -> dict[str, Any]:
        view = self._view(task)
        return {
            key: view[key]
            for key in ("task_id", "model", "action", "status", "created_at", "progress")
        }

    def _view(self, task: dict[str, Any]) -> dict[str, Any]:
        view = {key: value for key, value in task.items() if key != "prompt"}
        for name in ("created_at", "completed_at"):
            view[name] = self._stamp(task[name])
        if task["result"] is not None:
            view["result"] = dict(
                task["result"], expires_at=self._stamp(task["result"]["expires_at"])
            )
        if self.script.progress_as_text:
            view["progress"] = f"{task['progress']}%"
        return view

    def _stamp(self, seconds: float | None) -> int | None:
        if seconds is None:
            return None
        return int(seconds) if self.script.times_in_seconds else int(seconds * 1000)

    async def _notify(self, task_id: str, event: str) -> None:
        hook = self.hooks.get(task_id)
        if hook is None or event not in hook[1]:
            return
        if self.script.drop_callbacks:
            self.sent.append(SentCallback(task_id, event, None))
            return
        body = json.dumps({"event": event, "data": self._view(self.tasks[task_id])})
        answer = await self._background.post(hook[0], body, {"content-type": "application/json"})
        self.sent.append(SentCallback(task_id, event, answer))


def check_body(body: Any) -> str | None:
    """What Wave would answer 422 for, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if body.get("model") not in MODELS:
        return f"model must be one of {', '.join(MODELS)}"
    duration = body.get("duration", 5)
    if not isinstance(duration, int) or isinstance(duration, bool) or not 3 <= duration <= 15:
        return "duration must be an integer in 3-15"
    if body.get("resolution", "720p") not in ("480p", "720p", "1080p"):
        return "resolution must be 480p, 720p or 1080p"
    if body.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "4:3", "3:4", "1:1"):
        return "aspect_ratio must be 16:9, 9:16, 4:3, 3:4 or 1:1"
    if len(body.get("prompt") or "") > 5000:
        return "prompt must be at most 5000 characters"
    for name, limit in (("ref_images", 6), ("ref_videos", 1), ("mid_frame_images", 6)):
        if len(body.get(name) or []) > limit:
            return f"{name} takes at most {limit} items"
    media = (
        "first_frame_image",
        "last_frame_image",
        "ref_images",
        "ref_videos",
        "image_urls",
        "video_urls",
        "audio_urls",
        "mid_frame_images",
    )
    if not body.get("prompt") and not any(body.get(name) for name in media):
        return "prompt is required for text-to-video"
    if "negative_prompt" in body:
        return "negative_prompt is not supported by SkyReels V4"
    return None


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
