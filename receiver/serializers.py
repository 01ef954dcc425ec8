"""How tasks and events look in API answers."""

from __future__ import annotations

import json
from typing import Any

from store.task_json import task_json


def task_view(row: dict[str, Any]) -> dict[str, Any]:
    """A task as the client API shows it (the one task shape, store.task_json)."""
    return task_json(row)


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
