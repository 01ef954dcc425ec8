"""A local PiAPI: Create Task, Get Task and webhooks, as PiAPI documents them.

It refuses what PiAPI refuses (a missing or wrong x-api-key, an unknown model or task type, an
input that breaks the model's rules), answers in PiAPI's {code, data, message} envelope, and later
POSTs {timestamp, data} to the task's webhook endpoint with the secret in x-webhook-secret:
a pending notice, a processing update, then completed (or failed). A non-2xx answer is retried.
Put "[fail]" in a prompt to make that task fail.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from receiver.sandbox.providers.serve import Background
from receiver.sandbox.providers.videos import VideoShelf

MODELS = {"Qubico/skyreels", "Qubico/framepack"}


@dataclass
class PiapiScript:
    """How the simulator behaves; tests change these fields."""

    submit_http_status: int | None = None
    submit_error_code: int | None = None
    hang_submit: bool = False
    fail_all: bool = False
    drop_callbacks: bool = False
    step_delay: float = 0.05
    retries: int = 3
    retry_delay: float = 0.05
    extra_callbacks: list[str] = field(default_factory=list)
    # Answer Create Task as the Create Task page's example does: a bare {task_id, status,
    # created_at}, without the {code, data, message} envelope.
    bare_create_answer: bool = False


@dataclass
class SentCallback:
    """One webhook the simulator sent and how the receiver answered."""

    task_id: str
    status: str
    answer: int | None


class PiapiSimulator:
    """The simulator's state: tasks, what it received and what it sent."""

    def __init__(self, api_key: str = "sim-piapi-key") -> None:
        self.api_key = api_key
        self.videos = VideoShelf()
        self.script = PiapiScript()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, str]] = {}
        self.received: list[dict[str, Any]] = []
        self.sent: list[SentCallback] = []
        self._ids = itertools.count(1)
        self._background = Background()
        self.base_url = ""

    def app(self) -> web.Application:
        """The aiohttp app to serve."""
        app = web.Application()
        self.videos.add_routes(app)
        app.router.add_post("/api/v1/task", self._create)
        app.router.add_get("/api/v1/task/{task_id}", self._get)
        app.cleanup_ctx.append(self._background.lifetime)
        return app

    async def wait_idle(self) -> None:
        """Wait until every scheduled webhook has been sent."""
        await self._background.wait_idle()

    async def _create(self, request: web.Request) -> web.Response:
        if request.headers.get("x-api-key") != self.api_key:
            return _envelope(401, None, "Unauthorized: invalid x-api-key", http=401)
        try:
            body = await request.json()
        except ValueError:
            return _envelope(400, None, "invalid request body", http=400)
        self.received.append({"headers": dict(request.headers), "body": body})
        if self.script.hang_submit:
            await asyncio.Event().wait()  # a provider that never answers
        if self.script.submit_http_status is not None:
            return _envelope(
                500, None, "internal server error", http=self.script.submit_http_status
            )
        if self.script.submit_error_code is not None:
            return _envelope(self.script.submit_error_code, None, "insufficient credits")
        problem = check_create_body(body)
        if problem is not None:
            return _envelope(400, None, problem, http=400)
        task = self._new_task(body)
        self._schedule(task["task_id"])
        if self.script.bare_create_answer:
            bare = {name: task[name] for name in ("task_id", "status")}
            return web.json_response(bare | {"created_at": task["meta"]["created_at"]})
        return _envelope(200, task, "success")

    async def _get(self, request: web.Request) -> web.Response:
        if request.headers.get("x-api-key") != self.api_key:
            return _envelope(401, None, "Unauthorized: invalid x-api-key", http=401)
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return _envelope(404, None, "task not found", http=404)
        return _envelope(200, task, "success")

    def _new_task(self, body: dict[str, Any]) -> dict[str, Any]:
        task_id = f"sim-piapi-{next(self._ids):06d}-{int(time.time())}"
        webhook = (body.get("config") or {}).get("webhook_config") or {}
        if webhook.get("endpoint"):
            self.webhooks[task_id] = {
                "endpoint": webhook["endpoint"],
                "secret": webhook.get("secret", ""),
            }
        now = _now_iso()
        task: dict[str, Any] = {
            "task_id": task_id,
            "model": body["model"],
            "task_type": body["task_type"],
            "status": "pending",
            "config": {"service_mode": "public", "webhook_config": webhook},
            "input": body["input"],
            "output": {},
            "meta": {"created_at": now, "started_at": None, "ended_at": None},
            "detail": None,
            "logs": [],
            "error": {"code": 0, "raw_message": "", "message": ""},
        }
        self.tasks[task_id] = task
        return task

    def _schedule(self, task_id: str) -> None:
        self._background.start(self._run_task(task_id))

    async def _run_task(self, task_id: str) -> None:
        task = self.tasks[task_id]
        await self._notify(task_id)
        await asyncio.sleep(self.script.step_delay)
        task.update(status="processing")
        task["meta"]["started_at"] = _now_iso()
        task["logs"] = ["generating frames"]
        await self._notify(task_id)
        await asyncio.sleep(self.script.step_delay)
        self._finish(task)
        await self._notify(task_id)
        for status in self.script.extra_callbacks:
            await self._notify(task_id, override_status=status)

    def _finish(self, task: dict[str, Any]) -> None:
        task["meta"]["ended_at"] = _now_iso()
        if self.script.fail_all or "[fail]" in str(task["input"].get("prompt", "")):
            task["status"] = "failed"
            task["error"] = {
                "code": 10000,
                "raw_message": "gpu error",
                "message": "generation failed: content could not be animated",
                "detail": None,
            }
            return
        task["status"] = "completed"
        task["output"] = {"video_url": f"{self.base_url}/videos/{task['task_id']}.mp4"}

    async def _notify(self, task_id: str, override_status: str | None = None) -> None:
        hook = self.webhooks.get(task_id)
        if hook is None:
            return
        data = dict(self.tasks[task_id])
        if override_status is not None:
            data["status"] = override_status
        body = json.dumps({"timestamp": int(time.time()), "data": data})
        if self.script.drop_callbacks:
            self.sent.append(SentCallback(task_id, data["status"], None))
            return
        for _ in range(1 + self.script.retries):
            headers = {"content-type": "application/json", "x-webhook-secret": hook["secret"]}
            answer = await self._background.post(hook["endpoint"], body, headers)
            self.sent.append(SentCallback(task_id, data["status"], answer))
            if answer is not None and 200 <= answer < 300:
                return
            await asyncio.sleep(self.script.retry_delay)


def check_create_body(body: Any) -> str | None:
    """What PiAPI would say is wrong with a Create Task body, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if body.get("model") not in MODELS:
        return f"model {body.get('model')!r} is not supported"
    if body.get("task_type") != "img2video":
        return "task_type must be img2video"
    task_input = body.get("input")
    if not isinstance(task_input, dict):
        return "input is required"
    if body["model"] == "Qubico/skyreels":
        return _check_skyreels(task_input)
    return _check_framepack(task_input)


def _check_skyreels(task_input: dict[str, Any]) -> str | None:
    if not task_input.get("prompt"):
        return "input.prompt is required"
    if not task_input.get("image"):
        return "input.image is required"
    if task_input.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "1:1"):
        return "input.aspect_ratio must be one of 16:9, 9:16, 1:1"
    scale = task_input.get("guidance_scale", 3.5)
    if not isinstance(scale, int | float) or not 0 < scale <= 10:
        return "input.guidance_scale must be in (0, 10]"
    return None


def _check_framepack(task_input: dict[str, Any]) -> str | None:
    if not task_input.get("start_image"):
        return "input.start_image is required"
    duration = task_input.get("duration", 10)
    if not isinstance(duration, int) or not 10 <= duration <= 30:
        return "input.duration must be a whole number of seconds from 10 to 30"
    return None


def _envelope(code: int, data: Any, message: str, *, http: int = 200) -> web.Response:
    return web.json_response({"code": code, "data": data, "message": message}, status=http)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
