"""The forms a client's request is kept in: as recorded, as sealed for a later send, and as the
fingerprint that tells an idempotent replay from a different request."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from receiver.providers.base import TaskRequest
from receiver.providers.rules import is_data_uri
from receiver.services.validation import Submission


def stored_request(request: TaskRequest) -> dict[str, Any]:
    """The request as recorded: data: URIs are replaced by their size, never stored whole."""
    values = asdict(request)
    for name in ("image", "end_image"):
        if isinstance(values[name], str) and is_data_uri(values[name]):
            values[name] = f"{values[name].split(',', 1)[0]},({len(values[name])} characters)"
    values["extra"] = dict(request.extra)
    return values


def sealed_payload(request: TaskRequest) -> dict[str, Any]:
    """The request as sealed for a later send, data: URIs included."""
    return asdict(request) | {"extra": dict(request.extra)}


def fingerprint(submission: Submission, defaults: Mapping[str, Any] | None = None) -> str:
    """A hash of what the client asked for, to tell a replay from a different request: a field
    left out, null, empty or set to its default value counts as the same request."""
    defaults = defaults or {}
    request = sealed_payload(submission.request)
    request["extra"] = _without_defaults(request["extra"], defaults.get("extra") or {})
    asked = _without_defaults(request, defaults)
    payload: dict[str, Any] = {
        "request": asked,
        "notify": submission.notify or [],
        "metadata": submission.metadata or {},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _without_defaults(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The values that say something: not null, not empty, not the default."""
    return {
        name: value for name, value in values.items()
        if value not in (None, {}) and not (name in defaults and defaults[name] == value)
    }
