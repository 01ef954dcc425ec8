"""Wave's modes: an `action` given explicitly locks the mode, and each mode needs its media
(the seed's Mode Cheat Sheet). Without `action`, Wave routes by the media given."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from receiver.providers.base import TaskRequest
from receiver.providers.errors import InvalidRequest


def _video_of(kind: str) -> Callable[[TaskRequest], bool]:
    def has(request: TaskRequest) -> bool:
        items = request.extra.get("ref_videos") or []
        return any(item.get("type") == kind for item in items) or (
            kind == "reference" and bool(request.extra.get("video_urls"))
        )
    return has


def _audio(request: TaskRequest) -> bool:
    refs = request.extra.get("ref_images") or []
    return bool(request.extra.get("audio_urls")) or any(item.get("audio_url") for item in refs)


# action: (what it needs, in the words of the error, and whether the request has it)
NEEDS: Mapping[str, tuple[str, Callable[[TaskRequest], bool]]] = {
    "generate": ("prompt (text-to-video)", lambda r: bool(r.prompt)),
    "image2video": ("image (sent as first_frame_image)", lambda r: bool(r.image)),
    "first_last_frame": (
        "image and end_image (first_frame_image and last_frame_image)",
        lambda r: bool(r.image and r.end_image),
    ),
    "reference": (
        "extra.ref_images (or extra.image_urls)",
        lambda r: bool(r.extra.get("ref_images") or r.extra.get("image_urls")),
    ),
    "reference_video": (
        "extra.ref_videos with type reference (or extra.video_urls)", _video_of("reference")
    ),
    "reference_audio": ("extra.audio_urls or extra.ref_images[].audio_url", _audio),
    "extend": ("extra.ref_videos with type extend", _video_of("extend")),
}


def check_action_media(request: TaskRequest) -> None:
    """An explicit action comes with the media its mode works on; InvalidRequest otherwise."""
    action: Any = request.extra.get("action")
    if action not in NEEDS:
        return
    needed, present = NEEDS[action]
    if not present(request):
        raise InvalidRequest("extra.action", f"extra.action {action} needs {needed}")
