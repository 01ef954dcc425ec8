"""A task as JSON: the one shape the client API answers with, webhook receivers get, and the
OpenAPI document describes. Each field is declared once, here, with its schema."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from store.models import iso_from_epoch
from store.states import STATES, VIDEO_KEPT, VIDEO_STATUSES

_NULLABLE_STRING = {"type": "string", "nullable": True}

# Field name -> JSON schema (OpenAPI 3.0), in the order the API shows them.
_FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "id": {"type": "string"},
    "provider": {"type": "string"},  # the enum is filled in by task_schema
    "model": {"type": "string"},
    "provider_task_id": _NULLABLE_STRING,
    "status": {"type": "string", "enum": list(STATES)},
    "progress": {"type": "integer", "minimum": 0, "maximum": 100},
    "video_url": _NULLABLE_STRING,
    "error": _NULLABLE_STRING,
    "cost_usd": {"type": "number", "nullable": True},
    "created_at": {"type": "string"},
    "updated_at": {"type": "string"},
    "metadata": {"type": "object", "nullable": True},
    "video": {
        "type": "object",
        "nullable": True,
        "description": "the kept copy of the video (null until the task succeeds with one)",
        "required": ["status", "bytes", "sha256", "content_type", "kept_at", "expires_at", "url",
                     "error"],
        "properties": {
            "status": {"type": "string", "enum": list(VIDEO_STATUSES)},
            "bytes": {"type": "integer", "nullable": True},
            "sha256": _NULLABLE_STRING,
            "content_type": _NULLABLE_STRING,
            "kept_at": _NULLABLE_STRING,
            "expires_at": _NULLABLE_STRING,
            "url": _NULLABLE_STRING,
            "error": _NULLABLE_STRING,
        },
    },
}
TASK_FIELDS = tuple(_FIELD_SCHEMAS)
VideoLink = Callable[[str], str]  # task id -> a signed link to its kept copy


def task_json(
    row: Mapping[str, Any], *, status: str | None = None, video_link: VideoLink | None = None
) -> dict[str, Any]:
    """A task row as JSON; `status` overrides the row's (a notice announces the state it was
    queued for, even if the task has moved on since). `video_link` makes the kept copy's
    link (without it `video.url` is null)."""
    document = {name: row.get(name) for name in TASK_FIELDS}
    document["metadata"] = json_or_none(row.get("metadata"))
    document["video"] = video_json(row, video_link)
    if status is not None:
        document["status"] = status
    return document


def video_json(row: Mapping[str, Any], video_link: VideoLink | None) -> dict[str, Any] | None:
    """The `video` object of a task: what is kept of its video, and the link that lasts."""
    status = row.get("video_status")
    if status is None:
        return None
    expires_at = row.get("video_expires_at")
    return {
        "status": status,
        "bytes": row.get("video_bytes"),
        "sha256": row.get("video_sha256"),
        "content_type": row.get("video_content_type"),
        "kept_at": row.get("video_kept_at"),
        "expires_at": None if expires_at is None else iso_from_epoch(float(expires_at)),
        "url": video_link(str(row["id"])) if status == VIDEO_KEPT and video_link else None,
        "error": row.get("video_error"),
    }


def task_schema(providers: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of `task_json`'s answer, with the providers reelhook knows."""
    properties = {name: dict(schema) for name, schema in _FIELD_SCHEMAS.items()}
    properties["provider"]["enum"] = list(providers)
    return {"type": "object", "required": list(TASK_FIELDS), "properties": properties}


def json_or_none(text: Any) -> Any:
    """Stored JSON text decoded; None when it is empty or not JSON."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
