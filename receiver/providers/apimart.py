"""APIMart: SkyReels V4 fast and std. No webhook is documented, so its tasks are polled.

The seed's constraint table is what APIMart answers with 422; every rule is checked before
sending, so a user learns the mistake at once and nothing is billed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from receiver.providers import FACTS, rules, v4
from receiver.providers.base import Adapter, CallbackTarget, Report, TaskRequest
from receiver.providers.errors import (
    InvalidRequest,
    ProviderProtocolError,
    ProviderRejected,
)
from receiver.providers.http import compact
from store.states import FAILED

if TYPE_CHECKING:
    import httpx

DEFAULTS = {
    "duration": v4.DEFAULT_DURATION, "resolution": "1080p", "aspect_ratio": "16:9",
    "extra": {"prompt_optimizer": True},
}
FRAME_FORMATS = ("jpg", "jpeg", "png", "gif", "bmp")  # first and end frame, from the seed
EXTRA_KEYS = ("mid_frame_images", "ref_images", "ref_videos", "prompt_optimizer")
MAX_PROMPT_TOKENS = 1280
I2V_FIELDS = ("image", "end_image", "extra.mid_frame_images")
OMNI_FIELDS = ("extra.ref_images", "extra.ref_videos")
LONG_WORD = 12  # letters: a longer word or run of letters is several tokens
WORD_PIECE = 6  # characters per token of such a run
_CJK = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af"


class APIMart(Adapter):
    """The APIMart adapter."""

    title = "APIMart"
    name, default_base_url, default_max_in_flight, pollable = FACTS["apimart"]
    models = v4.MODELS

    def defaults(self, model: str) -> Mapping[str, Any]:
        """APIMart's documented defaults: 5 seconds, 1080p, 16:9, prompt optimizer on."""
        return DEFAULTS

    def validate(self, request: TaskRequest) -> None:
        """The seed's Parameter Constraints table, checked in its order."""
        extra = request.extra
        rules.only_keys("extra", extra, EXTRA_KEYS)
        rules.refuse("negative_prompt", request.negative_prompt, request.model)
        rules.refuse("guidance_scale", request.guidance_scale, request.model)
        rules.require("prompt", request.prompt)
        _prompt_tokens(request.prompt or "")
        rules.whole_number_in("duration", request.duration, 3, 15)
        rules.one_of("resolution", request.resolution, v4.RESOLUTIONS)
        rules.one_of("aspect_ratio", request.aspect_ratio, v4.ASPECT_RATIOS)
        v4.url("image", request.image, FRAME_FORMATS)
        v4.url("end_image", request.end_image, FRAME_FORMATS)
        if extra.get("prompt_optimizer") is not None and not isinstance(
            extra["prompt_optimizer"], bool
        ):
            raise InvalidRequest(
                "extra.prompt_optimizer", "extra.prompt_optimizer must be true or false"
            )
        _mode_exclusion(request)
        duration = request.duration or v4.DEFAULT_DURATION
        mids = v4.object_list("extra.mid_frame_images", extra.get("mid_frame_images"), 6)
        v4.mid_frames("extra.mid_frame_images", mids, duration, auto=True)
        images = _ref_images(extra)
        videos = _ref_videos(extra)
        if images and any(item["type"] == "extend" for item in videos):
            raise InvalidRequest(
                "extra.ref_videos", "ref_videos of type extend cannot be combined with ref_images"
            )
        tagged = [(f"extra.mid_frame_images[{i}]", item) for i, item in enumerate(mids)]
        tagged += [(f"extra.ref_images[{i}]", item) for i, item in enumerate(images)]
        tagged += [(f"extra.ref_videos[{i}]", item) for i, item in enumerate(videos)]
        v4.tags_in_prompt(tagged, request.prompt)

    async def submit(
        self,
        client: httpx.AsyncClient,
        request: TaskRequest,
        callback: CallbackTarget | None,
        idempotency_key: str | None,
    ) -> Report:
        """POST /v1/videos/generations; the answer is {code, data: [{status, task_id}]}."""
        answer = await self.call(
            client,
            "POST",
            "/v1/videos/generations",
            json=build_body(request),
        )
        data = _envelope(answer)
        first = data[0] if isinstance(data, list) and data else None
        if not isinstance(first, dict) or not isinstance(first.get("task_id"), str):
            raise ProviderProtocolError("APIMart answer has no data[0].task_id")
        status = str(first.get("status", "")).lower()
        return Report(
            provider_task_id=first["task_id"],
            provider_status=status or None,
            status=v4.STATUS.get(status),
            dedupe_key=f"submit:{first['task_id']}",
            payload=compact(answer),
        )

    async def fetch(self, client: httpx.AsyncClient, provider_task_id: str) -> Report:
        """GET /v1/tasks/{id}: {code, data: {id, status, progress, result, error, ...}}."""
        answer = await self.call(
            client,
            "GET",
            f"/v1/tasks/{provider_task_id}",
        )
        task = _envelope(answer)
        if not isinstance(task, dict):
            raise ProviderProtocolError("APIMart Get Task answer has no data object")
        status = str(task.get("status", "")).lower()
        ours = v4.STATUS.get(status)
        progress = v4.progress(task.get("progress"))
        return Report(
            provider_task_id=str(task.get("id") or task.get("task_id") or provider_task_id),
            provider_status=status or None,
            status=ours,
            dedupe_key=f"poll:{status}:{progress}",
            progress=progress,
            video_url=v4.video_url(task.get("result")),
            error=v4.error_text(task.get("error"), "APIMart reported the task failed")
            if ours == FAILED
            else None,
            payload=compact(answer),
        )

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key}"}


def build_body(request: TaskRequest) -> dict[str, Any]:
    """The body: image → first_frame_image, end_image → end_frame_image, extra as it is."""
    body: dict[str, Any] = {
        "model": request.model,
        "prompt": request.prompt,
        "duration": int(request.duration) if request.duration is not None else None,
        "resolution": request.resolution,
        "aspect_ratio": request.aspect_ratio,
        "first_frame_image": request.image,
        "end_frame_image": request.end_image,
        **dict(request.extra),
    }
    return {key: value for key, value in body.items() if value is not None}


def count_tokens(text: str) -> int:
    """An estimate of the prompt's tokens: words, punctuation marks and CJK characters, a word
    longer than `LONG_WORD` letters counting one token per `WORD_PIECE` (tokenizers split long
    runs of letters; ordinary words are one token)."""
    return sum(
        -(-len(piece) // WORD_PIECE) if len(piece) > LONG_WORD else 1
        for piece in _token_pattern().findall(text)
    )


@functools.cache
def _token_pattern() -> re.Pattern[str]:
    # Compiled at the first APIMart submit: the CJK ranges make it ~10 ms, paid by every start.
    return re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")


def _prompt_tokens(prompt: str) -> None:
    tokens = count_tokens(prompt)
    if tokens > MAX_PROMPT_TOKENS:
        raise InvalidRequest(
            "prompt", f"prompt must be at most {MAX_PROMPT_TOKENS} tokens; it has about {tokens}"
        )


def _mode_exclusion(request: TaskRequest) -> None:
    extra = request.extra
    i2v = bool(request.image or request.end_image or extra.get("mid_frame_images"))
    omni = [name for name in OMNI_FIELDS if extra.get(name.split(".", 1)[1])]
    if i2v and omni:
        raise InvalidRequest(
            omni[0],
            f"I2V fields ({', '.join(I2V_FIELDS)}) and Omni fields ({', '.join(OMNI_FIELDS)})"
            " cannot be used together",
        )


def _ref_images(extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = v4.object_list("extra.ref_images", extra.get("ref_images"), 1000)
    for index, item in enumerate(items):
        where = f"extra.ref_images[{index}]"
        v4.item_keys(where, item, ("tag", "type", "image_urls"), ("audio_url",))
        rules.one_of(f"{where}.type", item["type"], ("image", "grid"))
        v4.url(f"{where}.audio_url", item.get("audio_url"))
    if len({item["type"] for item in items}) > 1:
        raise InvalidRequest("extra.ref_images", "all extra.ref_images must share the same type")
    if items and items[0]["type"] == "grid":
        if len(items) != 1:
            raise InvalidRequest(
                "extra.ref_images", f"type grid takes exactly 1 item; got {len(items)}"
            )
        v4.url_list("extra.ref_images[0].image_urls", items[0]["image_urls"], 1, 1)
        if items[0].get("audio_url"):
            raise InvalidRequest(
                "extra.ref_images[0].audio_url", "audio_url is only supported with type image"
            )
    elif items:
        if len(items) > 3:
            raise InvalidRequest(
                "extra.ref_images", f"type image takes 1 to 3 items; got {len(items)}"
            )
        for index, item in enumerate(items):
            v4.url_list(f"extra.ref_images[{index}].image_urls", item["image_urls"], 1, 5)
    return items


def _ref_videos(extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    """At most one video reference. With type reference, APIMart takes the video's length
    (at most 10 s) instead of the duration asked for: not an error, so nothing to refuse."""
    items = v4.object_list("extra.ref_videos", extra.get("ref_videos"), 1)
    for index, item in enumerate(items):
        where = f"extra.ref_videos[{index}]"
        v4.item_keys(where, item, ("tag", "type", "video_url"))
        rules.one_of(f"{where}.type", item["type"], ("reference", "extend"))
        v4.url(f"{where}.video_url", item["video_url"], v4.VIDEO_FORMATS)
    return items


def _envelope(answer: Any) -> Any:
    if not isinstance(answer, dict) or "code" not in answer:
        raise ProviderProtocolError("APIMart answer is not a {code, data} envelope")
    if answer["code"] not in (200, 0):
        error = answer.get("error") or answer.get("message") or answer["code"]
        raise ProviderRejected(f"APIMart refused: {v4.error_text(error, str(error))}")
    return answer.get("data")
