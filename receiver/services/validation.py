"""Type checks of the client's task request: unknown fields, wrong types, missing fields.

Provider rules (allowed values and ranges) are each provider's own `validate`, applied through
`check_request`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dispatcher.channels import CHANNEL_NAMES
from dispatcher.whsec import WHSEC_RULE, is_whsec_key
from receiver.errors import Unprocessable
from receiver.providers.base import Provider, TaskRequest
from receiver.providers.errors import InvalidRequest
from receiver.services.request_fields import NUMBER_FIELDS, TEXT_FIELDS

TASK_FIELDS = frozenset(
    {"provider", "model", *TEXT_FIELDS, *NUMBER_FIELDS, "extra", "notify", "metadata"}
)
MAX_METADATA_BYTES = 16 * 1024


@dataclass(frozen=True)
class Submission:
    """A checked task request with its notice destinations and metadata."""

    request: TaskRequest
    notify: tuple[dict[str, Any], ...]
    metadata: dict[str, Any] | None


def parse_submission(body: Any, providers: Collection[str]) -> Submission:
    """Check the body's shape and types; Unprocessable names the first bad field."""
    if not isinstance(body, dict):
        raise Unprocessable("the body must be a JSON object", field="body")
    _refuse_unsendable(body, "")
    unknown = sorted(set(body) - TASK_FIELDS)
    if unknown:
        raise Unprocessable(
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(TASK_FIELDS))}",
            field=unknown[0],
        )
    provider = _choice(body, "provider", providers)
    model = _text(body, "model", required=True)
    request = TaskRequest(
        provider=provider,
        model=str(model),
        prompt=_text(body, "prompt"),
        negative_prompt=_text(body, "negative_prompt"),
        image=_text(body, "image"),
        end_image=_text(body, "end_image"),
        duration=_number(body, "duration"),
        aspect_ratio=_text(body, "aspect_ratio"),
        resolution=_text(body, "resolution"),
        guidance_scale=_number(body, "guidance_scale"),
        extra=_object(body, "extra") or {},
    )
    return Submission(request, _notify(body.get("notify")), _metadata(body.get("metadata")))


def _refuse_unsendable(value: Any, where: str) -> None:
    """422 naming the field when any text holds a lone surrogate (valid in JSON escapes, but
    not Unicode: it could not be sent to a provider, in an email or to Slack)."""
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, dict):
        texts = list(value)
        for key, item in value.items():
            _refuse_unsendable(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        texts = []
        for index, item in enumerate(value):
            _refuse_unsendable(item, f"{where}[{index}]")
    else:
        return
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise Unprocessable(
                f"{where or 'a field name'} holds a lone surrogate (\\ud800-\\udfff); only"
                " valid Unicode text is allowed",
                field=where or "body",
            ) from None


def _choice(body: dict[str, Any], name: str, allowed: Collection[str]) -> str:
    value = body.get(name)
    if not isinstance(value, str) or value not in allowed:
        raise Unprocessable(f"{name} must be one of {', '.join(sorted(allowed))}", field=name)
    return str(value)


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise Unprocessable(f"{name} is required", field=name)
        return None
    if not isinstance(value, str):
        raise Unprocessable(f"{name} must be a string", field=name)
    return value


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unprocessable(f"{name} must be a number", field=name)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise Unprocessable(f"{name} must be a finite number", field=name)
    return number


def _object(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise Unprocessable(f"{name} must be a JSON object", field=name)
    return value


def _metadata(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Unprocessable("metadata must be a JSON object", field="metadata")
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise Unprocessable(
            f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON", field="metadata"
        )
    return value


# The local part is ASCII: SMTP servers without SMTPUTF8 (most relays) cannot carry anything else.
_EMAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
NOTIFY_KEYS = {"slack": {"url"}, "email": {"to"}, "webhook": {"url", "secret"}}


def _notify(value: Any) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 10:
        raise Unprocessable("notify must be a list of at most 10 destinations", field="notify")
    return tuple(_destination(index, item) for index, item in enumerate(value))


def _destination(index: int, item: Any) -> dict[str, Any]:
    where = f"notify[{index}]"
    channel = item.get("channel") if isinstance(item, dict) else None
    if not isinstance(channel, str) or channel not in NOTIFY_KEYS:
        raise Unprocessable(
            f"{where} must be an object with channel {', '.join(CHANNEL_NAMES)}", field=where
        )
    needed = NOTIFY_KEYS[item["channel"]]
    extra = sorted(set(item) - needed - {"channel"})
    if extra:
        raise Unprocessable(
            f"{where} does not take {', '.join(extra)}", field=f"{where}.{extra[0]}"
        )
    for key in sorted(needed):
        if not isinstance(item.get(key), str) or not item[key]:
            raise Unprocessable(f"{where}.{key} is required (a string)", field=f"{where}.{key}")
    check_destination(where, item)
    return dict(item)


def check_destination(where: str, item: dict[str, Any]) -> None:
    """URLs are http(s), addresses look like addresses, webhook secrets are whsec_ keys; the
    fields are named under `where` (a notify entry) or as they are ("")."""
    if "url" in item:
        parts = urlsplit(item["url"])
        if parts.scheme not in ("http", "https") or not parts.hostname or len(item["url"]) > 2048:
            raise Unprocessable(f"{_under(where, 'url')} must be an http(s) URL",
                                field=_under(where, "url"))
    if "to" in item and not _EMAIL.fullmatch(item["to"]):
        raise Unprocessable(
            f"{_under(where, 'to')} must be one email address with an ASCII local part"
            " (name@example.com)", field=_under(where, "to"),
        )
    if "secret" in item and not is_whsec_key(item["secret"]):
        raise Unprocessable(f"{_under(where, 'secret')} must be {WHSEC_RULE}",
                            field=_under(where, "secret"))


def _under(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def check_request(provider: Provider, request: TaskRequest) -> None:
    """The provider's rules for the model; Unprocessable names the field."""
    if request.model not in provider.models:
        allowed = ", ".join(sorted(provider.models))
        raise Unprocessable(f"model must be one of {allowed} for {provider.name}", field="model")
    try:
        provider.validate(request)
    except InvalidRequest as exc:
        raise Unprocessable(exc.message, field=exc.field) from exc
