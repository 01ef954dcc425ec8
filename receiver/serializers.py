"""How tasks and events look in API answers."""

from __future__ import annotations

import json
from typing import Any

TASK_FIELDS = (
    "id",
    "provider",
    "model",
    "provider_task_id",
    "status",
    "progress",
    "video_url",
    "error",
    "cost_usd",
    "created_at",
    "updated_at",
)


def task_view(row: dict[str, Any]) -> dict[str, Any]:
    """A task as the client API shows it."""
    view = {name: row.get(name) for name in TASK_FIELDS}
    view["metadata"] = json.loads(row["metadata"]) if row.get("metadata") else None
    return view


def event_view(row: dict[str, Any]) -> dict[str, Any]:
    """An event as the client API shows it; the payload is what the provider sent (secrets
    already scrubbed)."""
    try:
        payload = json.loads(row["payload"]) if row.get("payload") else None
    except ValueError:
        payload = row["payload"]
    return {
        "id": row["id"],
        "source": row["source"],
        "provider_status": row["provider_status"],
        "status": row["status"],
        "progress": row["progress"],
        "received_at": row["received_at"],
        "payload": payload,
    }
