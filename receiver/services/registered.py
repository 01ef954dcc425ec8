"""Registered destinations as the client API takes and shows them: the body of a new one or of
a change, checked field by field (Unprocessable names the field), and the view of one."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from dispatcher.channels import CHANNEL_NAMES
from receiver.errors import Unprocessable
from receiver.services.destinations import (
    EMAIL_NEEDS_SMTP,
    check_reachable,
    new_destination,
    registration,
)
from receiver.services.secrets import SecretBox
from receiver.services.validation import NOTIFY_KEYS, check_destination
from receiver.settings import Settings
from store import Registration
from store.models import metadata_text
from store.states import STATES

MAX_NAME = 100
SETTINGS_PREFIX = "settings-"  # the names of the destinations the settings make
MAX_METADATA_KEYS = 20
FILTERS = ("on", "provider", "metadata", "paused")
FIELDS = ("name", "channel", "url", "to", "secret", *FILTERS)


def parse_new(
    body: Any, settings: Settings, secrets: SecretBox, providers: Iterable[str]
) -> tuple[Registration, str | None]:
    """A new destination from a POST body, and the webhook secret to show once (made here
    when the body has none)."""
    body = _object(body)
    _known(body, FIELDS)
    channel = body.get("channel")
    if channel not in CHANNEL_NAMES:
        raise Unprocessable(f"channel must be one of {', '.join(CHANNEL_NAMES)}", field="channel")
    shown = None
    if channel == "webhook" and "secret" not in body:
        shown = new_secret()
    address = _address(body, channel, secret=shown, settings=settings)
    filters = _filters(body, providers)
    on = filters.pop("on", None) or tuple(sorted(settings.notify_on))
    made = registration(_name(body.get("name")), address, on, secrets, **filters)
    return made, shown


def parse_change(
    body: Any, current: dict[str, Any], settings: Settings, secrets: SecretBox,
    providers: Iterable[str],
) -> dict[str, Any]:
    """The columns a PATCH body changes. The channel stays; a new address (or secret) is
    sealed anew, keeping the webhook's secret unless a new one is given."""
    body = _object(body)
    _known(body, FIELDS)
    channel = current["channel"]
    if body.get("channel", channel) != channel:
        raise Unprocessable("channel cannot change; register a new destination", field="channel")
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = _name(body["name"])
    if {"url", "to", "secret"} & set(body):
        old = json.loads(secrets.decrypt(current["target"]))
        given = {key: body[key] for key in ("url", "to", "secret") if key in body}
        address = _address(old | given, channel, settings=settings)
        made = new_destination(address, secrets)
        changes |= {"target": made.target, "label": made.label, "route_key": made.route_key}
    filters = _filters(body, providers)
    if "on" in filters:
        changes["on_states"] = ",".join(filters.pop("on"))
    if "metadata" in filters:
        wanted = filters.pop("metadata")
        changes["metadata_filter"] = json.dumps(wanted) if wanted else None
    if "paused" in filters:
        changes["paused"] = int(filters.pop("paused"))
    return changes | filters


def destination_view(row: Mapping[str, Any], secret: str | None = None) -> dict[str, Any]:
    """A registered destination as the API shows it: by name and redacted label, never its
    sealed address or secret (a new webhook's secret is shown once, at creation)."""
    view = {
        "id": row["id"], "name": row["name"], "channel": row["channel"], "label": row["label"],
        "on": (row["on_states"] or "").split(",") if row["on_states"] else [],
        "provider": row["provider"],
        "metadata": json.loads(row["metadata_filter"] or "{}"),
        "paused": bool(row["paused"]), "disabled_reason": row["disabled_reason"],
        "disabled_at": row["disabled_at"], "managed_by": row["managed_by"],
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }
    if secret is not None:
        view["secret"] = secret
    return view


def new_secret() -> str:
    """A fresh Standard Webhooks signing key (32 random bytes)."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Unprocessable("the body must be a JSON object", field="body")
    return body


def _known(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise Unprocessable(
            f"unknown field {unknown[0][:60]!r}; allowed: {', '.join(allowed)}",
            field=unknown[0][:60],
        )


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise Unprocessable(f"name is required: a string of 1 to {MAX_NAME} characters",
                            field="name")
    if any(not character.isprintable() for character in value):
        raise Unprocessable("name must be printable text (no control characters)", field="name")
    if value.strip().startswith(SETTINGS_PREFIX):
        raise Unprocessable(f"names starting with {SETTINGS_PREFIX} are the settings' own",
                            field="name")
    return value.strip()


def _address(
    body: dict[str, Any], channel: str, *, settings: Settings, secret: str | None = None
) -> dict[str, Any]:
    """The channel's address fields from the body (a notify entry), checked."""
    needed = NOTIFY_KEYS[channel]
    item = {"channel": channel}
    for key in sorted(needed):
        found = secret if key == "secret" and secret is not None else body.get(key)
        if not isinstance(found, str) or not found:
            raise Unprocessable(f"{key} is required for a {channel} destination (a string)",
                                field=key)
        item[key] = found
    for key in ("url", "to", "secret"):
        if key in body and key not in needed:
            raise Unprocessable(f"a {channel} destination does not take {key}", field=key)
    if channel == "email" and not settings.smtp_url:
        raise Unprocessable(EMAIL_NEEDS_SMTP, field="to")
    check_destination("", item)
    check_reachable("", item, settings)
    return item


def _filters(body: dict[str, Any], providers: Iterable[str]) -> dict[str, Any]:
    """`on`, `provider`, `metadata` and `paused` where the body has them, checked."""
    found: dict[str, Any] = {}
    if "on" in body:
        on = body["on"]
        if (not isinstance(on, list) or not on
                or not all(isinstance(state, str) and state in STATES for state in on)):
            raise Unprocessable(f"on must be a non-empty list of states: {', '.join(STATES)}",
                                field="on")
        found["on"] = tuple(sorted(set(on)))
    if "provider" in body:
        known = sorted(providers)
        if body["provider"] is not None and body["provider"] not in known:
            raise Unprocessable(f"provider must be null or one of {', '.join(known)}",
                                field="provider")
        found["provider"] = body["provider"]
    if "metadata" in body:
        found["metadata"] = _metadata_filter(body["metadata"])
    if "paused" in body:
        if not isinstance(body["paused"], bool):
            raise Unprocessable("paused must be true or false", field="paused")
        found["paused"] = body["paused"]
    return found


def _metadata_filter(value: Any) -> dict[str, Any]:
    rule = (f"metadata must be null or an object of at most {MAX_METADATA_KEYS} keys, each with"
            " a string, number or boolean value the task's metadata must have")
    if value is None:
        return {}
    if (not isinstance(value, dict) or len(value) > MAX_METADATA_KEYS
            or not all(_is_filter_value(key, given) for key, given in value.items())):
        raise Unprocessable(rule, field="metadata")
    return dict(value)


def _is_filter_value(key: str, given: Any) -> bool:
    """A key of at most 100 characters with a scalar of at most 500 (as the search reads it)."""
    scalar = isinstance(given, str | int | float | bool)
    return scalar and len(key) <= 100 and len(metadata_text(given)) <= 500
