"""Wave (qingbo.dev): SkyReels V4 fast and std, with unsigned callbacks to a tokenised URL.

Wave documents no callback signature, so the callback URL carries an unguessable per-task token,
and a terminal callback is only a hint: reelhook confirms it with Get Task before accepting it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from receiver.providers import FACTS, rules, v4
from receiver.providers.base import Adapter, CallbackTarget, Report, TaskRequest
from receiver.providers.errors import (
    InvalidRequest,
    MalformedCallback,
    ProviderBusy,
    ProviderProtocolError,
    ProviderRejected,
)
from receiver.providers.http import body_hash, compact, loads_strict
from receiver.providers.wave_modes import check_action_media
from store.states import FAILED, QUEUED, RUNNING, SUCCEEDED

if TYPE_CHECKING:
    import httpx

ACTIONS = (
    "generate",
    "image2video",
    "first_last_frame",
    "reference",
    "reference_video",
    "reference_audio",
    "extend",
)
EXTRA_KEYS = (
    "action",
    "ref_images",
    "ref_videos",
    "mid_frame_images",
    "image_urls",
    "video_urls",
    "audio_urls",
    "prompt_optimizer",
)
# The seed's resource table: frames and reference images JPG/PNG/WEBP, audio WAV/MP3.
IMAGE_FORMATS = ("jpg", "jpeg", "png", "webp")
AUDIO_FORMATS = ("wav", "mp3")
CALLBACK_EVENTS = (QUEUED, RUNNING, SUCCEEDED, FAILED)
MAX_PROMPT = 5000
DEFAULT_RESOLUTION = "720p"
DEFAULTS = {
    "duration": v4.DEFAULT_DURATION, "resolution": DEFAULT_RESOLUTION, "aspect_ratio": "16:9",
    # Not `action`: given, even as generate, it locks the mode (media no longer route it).
    "extra": {"prompt_optimizer": True},
}
# $ per second: (standard, with video reference), from the seed's pricing table.
PRICES = {
    "skyreels-v4-fast": {
        "480p": (0.068, 0.1275),
        "720p": (0.0935, 0.17),
        "1080p": (0.23375, 0.425),
    },
    "skyreels-v4-std": {
        "480p": (0.0935, 0.153),
        "720p": (0.119, 0.2125),
        "1080p": (0.2975, 0.53125),
    },
}


class Wave(Adapter):
    """The Wave adapter."""

    title = "Wave"
    name, default_base_url, default_max_in_flight, pollable = FACTS["wave"]
    models = v4.MODELS
    supports_callbacks = True
    cancels = True
    token_in_path = True
    confirm_terminal = True
    idempotent_submit = True  # our Idempotency-Key is sent as Wave's

    def defaults(self, model: str) -> Mapping[str, Any]:
        """Wave's documented defaults: 5 seconds at 720p, 16:9, prompt optimizer on."""
        return DEFAULTS

    def validate(self, request: TaskRequest) -> None:
        """Wave's limits: duration 3-15, prompt up to 5000 characters, its resource table."""
        extra = request.extra
        rules.only_keys("extra", extra, EXTRA_KEYS)
        rules.refuse("negative_prompt", request.negative_prompt, request.model)
        rules.refuse("guidance_scale", request.guidance_scale, request.model)
        rules.whole_number_in("duration", request.duration, 3, 15)
        rules.max_length("prompt", request.prompt, MAX_PROMPT)
        rules.one_of("aspect_ratio", request.aspect_ratio, v4.ASPECT_RATIOS)
        rules.one_of("resolution", request.resolution, v4.RESOLUTIONS)
        v4.url("image", request.image, IMAGE_FORMATS)
        v4.url("end_image", request.end_image, IMAGE_FORMATS)
        rules.one_of("extra.action", extra.get("action"), ACTIONS)
        _boolean("extra.prompt_optimizer", extra.get("prompt_optimizer"))
        v4.url_list("extra.image_urls", extra.get("image_urls"), formats=IMAGE_FORMATS)
        v4.url_list("extra.video_urls", extra.get("video_urls"), formats=v4.VIDEO_FORMATS)
        v4.url_list("extra.audio_urls", extra.get("audio_urls"), formats=AUDIO_FORMATS)
        _ref_images(extra)
        _ref_videos(extra)
        duration = request.duration or v4.DEFAULT_DURATION
        mids = v4.object_list("extra.mid_frame_images", extra.get("mid_frame_images"), 6)
        v4.mid_frames("extra.mid_frame_images", mids, duration, auto=False)
        check_action_media(request)
        if not _has_media(request):
            rules.require("prompt", request.prompt)

    def estimate_cost(self, request: TaskRequest) -> float | None:
        """Per second by tier and resolution; the higher rate when a video reference is used."""
        table = PRICES.get(request.model, {})
        rates = table.get(request.resolution or DEFAULT_RESOLUTION)
        if rates is None:
            return None
        rate = rates[1] if uses_video_reference(request.extra) else rates[0]
        return round(rate * (request.duration or v4.DEFAULT_DURATION), 5)

    async def submit(
        self,
        client: httpx.AsyncClient,
        request: TaskRequest,
        callback: CallbackTarget | None,
        idempotency_key: str | None,
    ) -> Report:
        """POST /v1/tasks with the callback URL and events; Idempotency-Key dedupes resends."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        try:
            answer = await self.call(
                client,
                "POST",
                "/v1/tasks",
                headers=headers,
                json=build_body(request, callback),
            )
        except ProviderRejected as exc:
            if "concurren" in str(exc).lower() or "queued tasks" in str(exc).lower():
                raise ProviderBusy(str(exc)) from exc
            raise
        task = unwrap(answer)
        return task_report(task, key=f"submit:{task['task_id']}", message=answer)

    async def fetch(self, client: httpx.AsyncClient, provider_task_id: str) -> Report:
        """GET /v1/tasks/{id}: the truth about the task."""
        answer = await self.call(
            client,
            "GET",
            f"/v1/tasks/{provider_task_id}",
        )
        task = unwrap(answer)
        status = str(task.get("status", "")).lower()
        key = f"poll:{status}:{v4.progress(task.get('progress'))}"
        return task_report(task, key=key, message=answer)

    async def cancel(self, client: httpx.AsyncClient, provider_task_id: str) -> None:
        """POST /v1/tasks/{id}/cancel; Wave allows it only while the task is queued."""
        await self.call(
            client,
            "POST",
            f"/v1/tasks/{provider_task_id}/cancel",
        )

    def presented_secret(self, headers: Mapping[str, str], path_token: str | None) -> str | None:
        """The token in the callback URL's last path segment."""
        return path_token

    def read_callback(self, body: bytes) -> Report:
        """Parse a callback: {event, data: task}, {event, task} or the task object itself."""
        try:
            message = loads_strict(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedCallback("body is not valid JSON") from exc
        if not isinstance(message, dict):
            raise MalformedCallback("body must be a JSON object")
        inner = message.get("data", message.get("task"))
        task = dict(inner) if isinstance(inner, dict) else dict(message)
        task_id = task.get("task_id") or task.get("id") or message.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise MalformedCallback("task_id is missing")
        task["task_id"] = task_id
        event = message.get("event") or message.get("type")
        if not task.get("status") and isinstance(event, str):
            task["status"] = event
        if not isinstance(task.get("status"), str):
            raise MalformedCallback("neither a status nor an event is given")
        key = f"cb:{task_id}:{event or task['status']}:{body_hash(body)}"
        return task_report(task, key=key, message=message)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}"}


def build_body(request: TaskRequest, callback: CallbackTarget | None) -> dict[str, Any]:
    """The Create Task body: unified fields renamed to Wave's, `extra` passed through."""
    body: dict[str, Any] = {
        "model": request.model,
        "prompt": request.prompt,
        "duration": int(request.duration) if request.duration is not None else None,
        "resolution": request.resolution,
        "aspect_ratio": request.aspect_ratio,
        "first_frame_image": request.image,
        "last_frame_image": request.end_image,
        **dict(request.extra),
    }
    if callback is not None:
        body["callback_url"] = callback.url
        body["callback_events"] = [e for e in CALLBACK_EVENTS if e in callback.events]
    return {key: value for key, value in body.items() if value is not None}


def unwrap(answer: Any) -> dict[str, Any]:
    """The task object, bare or inside a {code, data} envelope."""
    if isinstance(answer, dict) and isinstance(answer.get("data"), dict):
        if answer.get("code") not in (None, 0, 200):
            raise ProviderRejected(f"Wave refused: {answer.get('message') or answer['code']}")
        answer = answer["data"]
    if not isinstance(answer, dict):
        raise ProviderProtocolError("Wave answer is not a task object")
    task_id = answer.get("task_id") or answer.get("id")
    if not isinstance(task_id, str) or not task_id:
        raise ProviderProtocolError("Wave answer has no task_id")
    return {**answer, "task_id": task_id}


def task_report(task: dict[str, Any], *, key: str, message: dict[str, Any]) -> Report:
    """A Report from Wave's task object (status names of tasks and of callback events).

    The stored payload is Wave's message plus `reelhook_times`: its created_at, completed_at and
    result.expires_at in Unix seconds, since Wave sends them in seconds or in milliseconds."""
    status = str(task.get("status", "")).lower()
    ours = v4.STATUS.get(status)
    times = task_times(task)
    return Report(
        provider_task_id=str(task["task_id"]),
        provider_status=status or None,
        status=ours,
        dedupe_key=key,
        progress=v4.progress(task.get("progress")),
        video_url=v4.video_url(task.get("result")),
        error=v4.error_text(task.get("error"), "Wave reported the task failed")
        if ours == FAILED
        else None,
        payload=compact({**message, "reelhook_times": times}),
        video_expires_at=times["expires_at"],
    )


def task_times(task: dict[str, Any]) -> dict[str, float | None]:
    """created_at, completed_at and result.expires_at as Unix seconds, whatever unit Wave used."""
    result = task.get("result") if isinstance(task.get("result"), dict) else {}
    return {
        "created_at": v4.epoch_seconds(task.get("created_at")),
        "completed_at": v4.epoch_seconds(task.get("completed_at")),
        "expires_at": v4.epoch_seconds((result or {}).get("expires_at")),
    }


def uses_video_reference(extra: Mapping[str, Any]) -> bool:
    """True when ref_videos (reference or extend) or video_urls are given: the higher rate."""
    refs = extra.get("ref_videos") or []
    typed = any(
        isinstance(item, dict) and item.get("type") in ("reference", "extend") for item in refs
    )
    return typed or bool(extra.get("video_urls"))


def _ref_images(extra: Mapping[str, Any]) -> None:
    items = v4.object_list("extra.ref_images", extra.get("ref_images"), 6)
    for index, item in enumerate(items):
        where = f"extra.ref_images[{index}]"
        v4.item_keys(where, item, ("tag", "type", "image_urls"), ("audio_url",))
        rules.one_of(f"{where}.type", item["type"], ("image", "grid"))
        low, high = (1, 1) if item["type"] == "image" else (2, 9)
        v4.url_list(f"{where}.image_urls", item["image_urls"], low, high, IMAGE_FORMATS)
        v4.url(f"{where}.audio_url", item.get("audio_url"), AUDIO_FORMATS)
    if items and extra.get("image_urls"):
        raise InvalidRequest(
            "extra.image_urls", "give either extra.image_urls or extra.ref_images, not both"
        )
    if extra.get("audio_urls") and any(item.get("audio_url") for item in items):
        raise InvalidRequest(
            "extra.audio_urls", "give either extra.audio_urls or ref_images[].audio_url, not both"
        )


def _ref_videos(extra: Mapping[str, Any]) -> None:
    items = v4.object_list("extra.ref_videos", extra.get("ref_videos"), 1)
    for index, item in enumerate(items):
        where = f"extra.ref_videos[{index}]"
        v4.item_keys(where, item, ("tag", "type", "video_url"))
        rules.one_of(f"{where}.type", item["type"], ("reference", "extend"))
        v4.url(f"{where}.video_url", item["video_url"], v4.VIDEO_FORMATS)
    if items and extra.get("video_urls"):
        raise InvalidRequest(
            "extra.video_urls", "give either extra.video_urls or extra.ref_videos, not both"
        )


def _boolean(field: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(field, f"{field} must be true or false")


def _has_media(request: TaskRequest) -> bool:
    media = (
        "ref_images",
        "ref_videos",
        "mid_frame_images",
        "image_urls",
        "video_urls",
        "audio_urls",
    )
    return bool(request.image or request.end_image or any(request.extra.get(k) for k in media))
