"""What Wave and APIMart share for SkyReels V4: field checks of composite lists, status names,
and reading `result.videos[].url` (a string or a list) and times (seconds or milliseconds)."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from receiver.providers import rules
from receiver.providers.errors import InvalidRequest

MODELS = frozenset({"skyreels-v4-fast", "skyreels-v4-std"})
RESOLUTIONS = ("480p", "720p", "1080p")
ASPECT_RATIOS = ("16:9", "9:16", "4:3", "3:4", "1:1")
DEFAULT_DURATION = 5
STATUS = {
    "submitted": "queued",
    "pending": "queued",
    "queued": "queued",
    "processing": "running",
    "running": "running",
    "in_progress": "running",
    "completed": "succeeded",
    "succeeded": "succeeded",
    "success": "succeeded",
    "failed": "failed",
    "failure": "failed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}
VIDEO_FORMATS = ("mp4", "mov")
FORMAT_NAMES = {"jpg": "JPG", "jpeg": "JPG"}  # one format, two spellings of its extension
_MS_THRESHOLD = 100_000_000_000  # 1e11 s is the year 5138; larger stamps are milliseconds


def url(field: str, value: Any, formats: Collection[str] = ()) -> None:
    """When given, an http(s) URL; with `formats`, a file name extension in its path (where
    it has one: a URL without one cannot be judged before the provider fetches it) is one of
    them."""
    if value is None:
        return
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequest(field, f"{field} must be an http(s) URL")
    name = parts.path.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if formats and extension and extension not in formats:
        allowed = ", ".join(dict.fromkeys(FORMAT_NAMES.get(f, f.upper()) for f in formats))
        raise InvalidRequest(
            field, f"{field} must be a file of format {allowed}; its URL ends in .{extension}"
        )


def object_list(field: str, value: Any, max_items: int) -> list[dict[str, Any]]:
    """A list of at most `max_items` JSON objects (empty when not given)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidRequest(field, f"{field} must be a list of objects")
    if len(value) > max_items:
        raise InvalidRequest(field, f"{field} takes at most {max_items} items; got {len(value)}")
    return value


def url_list(
    field: str, value: Any, low: int = 0, high: int = 1000, formats: Collection[str] = ()
) -> list[str]:
    """A list of `low` to `high` http(s) URLs (empty when not given and low is 0), each of
    one of `formats` where it says (see `url`)."""
    if value is None:
        value = []
    if not isinstance(value, list):
        raise InvalidRequest(field, f"{field} must be a list of URLs")
    if not low <= len(value) <= high:
        raise InvalidRequest(
            field, f"{field} must hold {_count(low, high)} URL(s); got {len(value)}"
        )
    for index, item in enumerate(value):
        url(f"{field}[{index}]", item, formats)
    return value


def item_keys(
    field: str, item: dict[str, Any], required: Collection[str], optional: Collection[str] = ()
) -> None:
    """The item has every required key and nothing else but the optional ones."""
    rules.only_keys(field, item, (*required, *optional))
    for key in required:
        if item.get(key) is None or item.get(key) == "":
            raise InvalidRequest(f"{field}.{key}", f"{field}.{key} is required")


def mid_frames(field: str, items: list[dict[str, Any]], duration: float, *, auto: bool) -> None:
    """Each keyframe has tag, image_url and time_stamp in (0, duration), strictly increasing;
    with `auto`, -1 (placed by the provider) is allowed too and skipped in the ordering."""
    previous: float | None = None
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        item_keys(where, item, ("tag", "image_url", "time_stamp"))
        url(f"{where}.image_url", item["image_url"])
        stamp = item["time_stamp"]
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            raise InvalidRequest(f"{where}.time_stamp", f"{where}.time_stamp must be a number")
        if auto and stamp == -1:
            continue
        if not 0 < stamp < duration:
            allowed = "-1 or within" if auto else "within"
            raise InvalidRequest(
                f"{where}.time_stamp",
                f"{where}.time_stamp must be {allowed} (0, {duration:g}), the video's duration;"
                f" got {stamp:g}",
            )
        if previous is not None and stamp <= previous:
            raise InvalidRequest(
                f"{where}.time_stamp",
                f"{field} time_stamp values must be strictly increasing;"
                f" {stamp:g} follows {previous:g}",
            )
        previous = stamp


def tags_in_prompt(items: list[tuple[str, dict[str, Any]]], prompt: str | None) -> None:
    """Every tag starts with @ and appears in the prompt (APIMart's rule)."""
    for where, item in items:
        tag = str(item.get("tag", ""))
        if not tag.startswith("@"):
            raise InvalidRequest(
                f"{where}.tag", f"{where}.tag must start with @ (e.g. @image1); got {tag!r}"
            )
        if tag not in (prompt or ""):
            raise InvalidRequest(
                f"{where}.tag",
                f'{where}.tag {tag} must appear in the prompt, e.g. "{tag} walks in"',
            )


def video_url(result: Any) -> str | None:
    """The first `result.videos[].url`, which is a string or a list of strings."""
    if not isinstance(result, dict) or not isinstance(result.get("videos"), list):
        return None
    for video in result["videos"]:
        found = video.get("url") if isinstance(video, dict) else video
        if isinstance(found, list):
            found = next((item for item in found if isinstance(item, str) and item), None)
        if isinstance(found, str) and found:
            return found
    return None


def progress(value: Any) -> int | None:
    """An integer progress (0-100) from 42, 42.5 or "42%"; None for anything else or non-finite."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%"))
        except ValueError:
            return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if not isinstance(value, int | float):
        return None
    # Clamped: a provider's 1e20 would otherwise overflow SQLite's integer column.
    return int(min(max(value, 0), 100))


def epoch_seconds(value: Any) -> float | None:
    """Unix seconds from a stamp given in seconds or in milliseconds (or a numeric string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float) or value <= 0:
        return None
    return value / 1000 if value >= _MS_THRESHOLD else float(value)


def error_text(error: Any, fallback: str) -> str:
    """The message of an `error` that is a string or {message, code}."""
    if isinstance(error, str) and error:
        return error
    if isinstance(error, dict):
        message = error.get("message") or error.get("msg")
        code = error.get("code")
        if isinstance(message, str) and message:
            return f"{message} ({code})" if code not in (None, "") else message
    return fallback


def _count(low: int, high: int) -> str:
    return str(low) if low == high else f"{low} to {high}"
