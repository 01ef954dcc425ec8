"""A task as JSON: the one shape the client API answers with, webhook receivers get, and the
OpenAPI document describes. Each field is declared once, here, with its schema."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from store.states import STATES

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
}
TASK_FIELDS = tuple(_FIELD_SCHEMAS)


def task_json(row: dict[str, Any], *, status: str | None = None) -> dict[str, Any]:
    """A task row as JSON; `status` overrides the row's (a notice announces the state it was
    queued for, even if the task has moved on since)."""
    document = {name: row.get(name) for name in TASK_FIELDS}
    document["metadata"] = json_or_none(row.get("metadata"))
    if status is not None:
        document["status"] = status
    return document


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
