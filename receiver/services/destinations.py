"""Where a task's notices go: its own destinations, then the global routes; one per address."""

from __future__ import annotations

import json
from typing import Any

from dispatcher.netguard import BlockedAddress, check_slack_url, check_url
from receiver.errors import Unprocessable
from receiver.services.secrets import SecretBox, redact_url
from receiver.services.validation import Submission
from receiver.settings import Settings
from store import NewDestination


def task_destinations(
    submission: Submission, settings: Settings, secrets: SecretBox
) -> tuple[NewDestination, ...]:
    """The task's own destinations, then the global routes; one per address (sealed)."""
    chosen: dict[str, NewDestination] = {}
    for index, item in enumerate(submission.notify):
        if item["channel"] == "email" and not settings.smtp_url:
            raise Unprocessable(
                "email notices need REELHOOK_SMTP_URL on the server; use slack or webhook",
                field=f"notify[{index}].to",
            )
        _check_reachable(index, item, settings.allow_private_urls)
    for item in (*submission.notify, *_global_routes(settings)):
        destination = _destination(item, secrets)
        chosen.setdefault(destination.route_key, destination)
    return tuple(chosen.values())


def _check_reachable(index: int, item: dict[str, Any], allow_private: bool) -> None:
    """User URLs must lead to public addresses (Slack's host for Slack), unless allowed."""
    check = check_slack_url if item["channel"] == "slack" else check_url
    if "url" in item:
        try:
            check(item["url"], allow_private=allow_private)
        except BlockedAddress as exc:
            raise Unprocessable(str(exc), field=f"notify[{index}].url") from exc


def _global_routes(settings: Settings) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = []
    if settings.slack_webhook_url:
        routes.append({"channel": "slack", "url": settings.slack_webhook_url})
    routes += [{"channel": "email", "to": address} for address in settings.email_to]
    return routes


def _destination(item: dict[str, Any], secrets: SecretBox) -> NewDestination:
    channel = item["channel"]
    target = {key: value for key, value in item.items() if key != "channel"}
    address = target.get("url") or target.get("to") or ""
    label = redact_url(address) if "url" in item else _mask_email(address)
    return NewDestination(
        channel, secrets.encrypt(json.dumps(target)), label, route_key(secrets, channel, target)
    )


def route_key(secrets: SecretBox, channel: str, target: dict[str, Any]) -> str:
    """The key all destinations of one address share (a keyed hash, under the first key)."""
    address = target.get("url") or target.get("to") or ""
    return secrets.hash_secret(f"route:{channel}:{address}")[:24]


def _mask_email(address: str) -> str:
    name, _, domain = address.partition("@")
    return f"{name[:1]}…@{domain}" if domain else "…"
