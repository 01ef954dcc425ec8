"""PiAPI: SkyReels and Framepack image-to-video, with webhooks that echo a per-task secret."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from receiver.providers import FACTS, rules
from receiver.providers.base import Adapter, CallbackTarget, Report, TaskRequest
from receiver.providers.errors import (
    CancelNotSupported,
    MalformedCallback,
    ProviderProtocolError,
    ProviderRejected,
)
from receiver.providers.http import body_hash, compact, compact_known, loads_strict
from store.states import FAILED

if TYPE_CHECKING:
    import httpx

SKYREELS = "Qubico/skyreels"
FRAMEPACK = "Qubico/framepack"
SKYREELS_ASPECT_RATIOS = ("16:9", "9:16", "1:1")
SKYREELS_PRICE_USD = 0.15
FRAMEPACK_PRICE_PER_SECOND_USD = 0.03
FRAMEPACK_DEFAULT_DURATION = 10
SKYREELS_DEFAULTS = {"aspect_ratio": "16:9", "guidance_scale": 3.5}
_STATUS = {
    "pending": "queued",
    "staged": "queued",
    "processing": "running",
    "completed": "succeeded",
    "failed": "failed",
}


class PiAPI(Adapter):
    """The PiAPI adapter."""

    title = "PiAPI"
    name, default_base_url, default_max_in_flight, pollable = FACTS["piapi"]
    models = frozenset({SKYREELS, FRAMEPACK})
    supports_callbacks = True

    def defaults(self, model: str) -> Mapping[str, Any]:
        """SkyReels: 16:9 and guidance 3.5; Framepack: 10 seconds."""
        if model == FRAMEPACK:
            return {"duration": FRAMEPACK_DEFAULT_DURATION}
        return SKYREELS_DEFAULTS

    def validate(self, request: TaskRequest) -> None:
        """SkyReels: prompt, image, aspect ratio, guidance in (0, 10]; Framepack: image, 10-30 s."""
        rules.only_keys("extra", request.extra, ())
        rules.refuse("resolution", request.resolution, request.model)
        rules.require("image", request.image)
        rules.image_reference("image", request.image)
        if request.model == SKYREELS:
            rules.require("prompt", request.prompt)
            rules.refuse("duration", request.duration, request.model)
            rules.refuse("end_image", request.end_image, request.model)
            rules.one_of("aspect_ratio", request.aspect_ratio, SKYREELS_ASPECT_RATIOS)
            rules.number_in("guidance_scale", request.guidance_scale, 0, 10, low_open=True)
        else:
            rules.refuse("aspect_ratio", request.aspect_ratio, request.model)
            rules.refuse("guidance_scale", request.guidance_scale, request.model)
            rules.image_reference("end_image", request.end_image)
            rules.whole_number_in("duration", request.duration, 10, 30)

    def estimate_cost(self, request: TaskRequest) -> float | None:
        """$0.15 per SkyReels generation; $0.03 per second of Framepack video."""
        if request.model == SKYREELS:
            return SKYREELS_PRICE_USD
        seconds = request.duration or FRAMEPACK_DEFAULT_DURATION
        return round(FRAMEPACK_PRICE_PER_SECOND_USD * seconds, 4)

    async def submit(
        self,
        client: httpx.AsyncClient,
        request: TaskRequest,
        callback: CallbackTarget | None,
        idempotency_key: str | None,
    ) -> Report:
        """POST /api/v1/task with the webhook endpoint and secret."""
        answer = await self.call(
            client,
            "POST",
            "/api/v1/task",
            json=build_create_body(request, callback),
        )
        return task_report(unwrap(answer), source="submit", payload=compact(shortened(answer)))

    async def fetch(self, client: httpx.AsyncClient, provider_task_id: str) -> Report:
        """GET /api/v1/task/{id}."""
        answer = await self.call(
            client,
            "GET",
            f"/api/v1/task/{provider_task_id}",
        )
        return task_report(unwrap(answer), source="poll", payload=compact(shortened(answer)))

    async def cancel(self, client: httpx.AsyncClient, provider_task_id: str) -> None:
        """PiAPI documents no cancel for SkyReels or Framepack."""
        raise CancelNotSupported("PiAPI offers no cancel for SkyReels or Framepack tasks")

    def presented_secret(self, headers: Mapping[str, str], path_token: str | None) -> str | None:
        """PiAPI echoes the secret verbatim in x-webhook-secret."""
        return headers.get("x-webhook-secret")

    def read_callback(self, body: bytes) -> Report:
        """Parse {timestamp, data: task}; the key dedupes PiAPI's retries of one callback."""
        try:
            message = loads_strict(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedCallback("body is not valid JSON") from exc
        if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
            raise MalformedCallback("body must be a JSON object with a data object")
        data = message["data"]
        if not isinstance(data.get("task_id"), str) or not data["task_id"]:
            raise MalformedCallback("data.task_id is missing")
        status = str(data.get("status", "")).lower()
        key = f"cb:{data['task_id']}:{status}:{message.get('timestamp')}:{body_hash(body)}"
        payload = compact_known(shortened(message), body, ECHOED_SECRET)
        return _report_from_task(data, status, key, payload)

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.config.api_key}


# Where PiAPI's task object echoes the callback secret (blanked before the payload is stored).
ECHOED_SECRET = ("data", "config", "webhook_config", "secret")
# The task object echoes its input, a base64 image sent in place of a URL included: stored as
# its size, as the request itself is (every callback and poll would keep megabytes again).
ECHOED_IMAGES = ("image", "start_image", "end_image")
LONGEST_KEPT_IMAGE = 2048


def shortened(message: Any) -> Any:
    """`message` ({data: task} or a bare task) with each long echoed input image that is not a
    URL replaced by its size, in place."""
    task = message.get("data", message) if isinstance(message, dict) else None
    echoed = task.get("input") if isinstance(task, dict) else None
    if isinstance(echoed, dict):
        for name in ECHOED_IMAGES:
            value = echoed.get(name)
            if (isinstance(value, str) and len(value) > LONGEST_KEPT_IMAGE
                    and not value.startswith(("http://", "https://"))):
                echoed[name] = f"(base64 image, {len(value)} characters)"
    return message


def build_create_body(request: TaskRequest, callback: CallbackTarget | None) -> dict[str, Any]:
    """The Create Task body PiAPI documents for the request's model."""
    body: dict[str, Any] = {
        "model": request.model,
        "task_type": "img2video",
        "input": _skyreels_input(request)
        if request.model == SKYREELS
        else _framepack_input(request),
    }
    if callback is not None:
        body["config"] = {"webhook_config": {"endpoint": callback.url, "secret": callback.secret}}
    return body


def _skyreels_input(request: TaskRequest) -> dict[str, Any]:
    return _without_none(
        {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "image": _image(request.image),
            "aspect_ratio": request.aspect_ratio or SKYREELS_DEFAULTS["aspect_ratio"],
            "guidance_scale": (
                request.guidance_scale if request.guidance_scale is not None
                else SKYREELS_DEFAULTS["guidance_scale"]
            ),
        }
    )


def _framepack_input(request: TaskRequest) -> dict[str, Any]:
    duration = request.duration if request.duration is not None else FRAMEPACK_DEFAULT_DURATION
    return _without_none(
        {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "start_image": _image(request.image),
            "end_image": _image(request.end_image),
            "duration": int(duration),
        }
    )


def _image(value: str | None) -> str | None:
    """PiAPI takes a URL or a bare base64 string, so a data: URI loses its prefix."""
    if value is not None and rules.is_data_uri(value):
        return value.split(",", 1)[1]
    return value


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def unwrap(answer: Any) -> dict[str, Any]:
    """The task inside PiAPI's {code, data, message} envelope; code 200 or 0 is success. The
    Create Task page documents a bare `{task_id, status, created_at}` too: taken as the task."""
    if isinstance(answer, dict) and "code" not in answer and isinstance(answer.get("task_id"), str):
        return answer
    if not isinstance(answer, dict) or "code" not in answer:
        raise ProviderProtocolError("PiAPI answer is not a {code, data, message} envelope")
    if answer["code"] not in (200, 0):
        raise ProviderRejected(f"PiAPI refused the task: {answer.get('message') or answer['code']}")
    data = answer.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("task_id"), str):
        raise ProviderProtocolError("PiAPI answer has no data.task_id")
    return data


def task_report(data: dict[str, Any], *, source: str, payload: str) -> Report:
    """A Report from PiAPI's task object, keyed so that repeated polls of one state dedupe."""
    status = str(data.get("status", "")).lower()
    key = f"{source}:{status}:{data.get('progress')}"
    return _report_from_task(data, status, key, payload)


def _report_from_task(data: dict[str, Any], status: str, key: str, payload: str) -> Report:
    """The Report of a task object whose lower-cased status is `status`."""
    ours = _STATUS.get(status)
    return Report(
        provider_task_id=str(data["task_id"]),
        provider_status=status or None,
        status=ours,
        dedupe_key=key,
        progress=_progress(data),
        video_url=video_url(data.get("output")),
        error=_error(data) if ours == FAILED else None,
        payload=payload,
    )


def video_url(output: Any) -> str | None:
    """output.video_url, output.video (a string) or output.video.url."""
    if not isinstance(output, dict):
        return None
    for candidate in (output.get("video_url"), output.get("video")):
        if isinstance(candidate, str) and candidate:
            return candidate
        if isinstance(candidate, dict) and isinstance(candidate.get("url"), str):
            return str(candidate["url"])
    return None


def _progress(data: dict[str, Any]) -> int | None:
    output = data.get("output")
    value = data.get("progress", output.get("progress") if isinstance(output, dict) else None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    # Clamped: a huge value would otherwise overflow SQLite's integer column.
    return int(min(max(value, 0), 100))


def _error(data: dict[str, Any]) -> str:
    error = data.get("error")
    if isinstance(error, dict):
        for key in ("message", "raw_message", "detail"):
            if isinstance(error.get(key), str) and error[key]:
                return str(error[key])
    return "PiAPI reported the task failed without a message"
