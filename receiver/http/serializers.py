"""How tasks, events and deliveries look in API answers (serialisers, not handlers)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dispatcher.links import VideoLinks
from receiver.providers.http import redact_urls
from store.models import iso_from_epoch
from store.task_json import task_json

_DELIVERY_FIELDS = ("id", "task_id", "state", "status", "last_error", "created_at", "updated_at",
                    "delivered_at")


def task_view(row: Mapping[str, Any], links: VideoLinks | None = None) -> dict[str, Any]:
    """A task as the client API shows it (the one task shape, store.task_json), with the signed
    link to its kept video when `links` are given."""
    return task_json(row, video_link=links.url if links else None)


def event_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """An event as the client API shows it; the payload is what the provider sent (secrets
    already scrubbed), with the user-info, query and fragment of every URL in it cut: providers
    echo the request's URLs, presigned signatures and all."""
    try:
        payload = json.loads(row["payload"]) if row.get("payload") else None
    except ValueError:
        payload = row["payload"]
    payload = with_urls_redacted(payload)
    return {
        "id": row["id"],
        "source": row["source"],
        "provider_status": row["provider_status"],
        "status": row["status"],
        "progress": row["progress"],
        "received_at": row["received_at"],
        "payload": payload,
    }


def delivery_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A delivery as the API shows it: its attempts (oldest first) and how many, the destination
    only by its name (a registered one) and redacted label."""
    view = {name: row.get(name) for name in _DELIVERY_FIELDS}
    view["attempt_count"] = row.get("attempts") or 0
    view["destination"] = {
        "id": row["destination_id"],
        "channel": row["channel"],
        "name": row.get("name"),
        "label": row["label"],
        "disabled_reason": row.get("disabled_reason"),
    }
    pending = row["status"] == "pending"
    view["next_attempt_at"] = _iso(row.get("next_attempt_at")) if pending else None
    view["attempts"] = row.get("attempt_log", [])
    return view


def with_urls_redacted(value: Any) -> Any:
    """The JSON value with every URL in its strings shown as `safe_url` shows it."""
    if isinstance(value, str):
        return redact_urls(value) if "://" in value else value
    if isinstance(value, list):
        return [with_urls_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: with_urls_redacted(item) for key, item in value.items()}
    return value


def _iso(seconds: Any) -> str | None:
    return iso_from_epoch(float(seconds)) if seconds is not None else None
