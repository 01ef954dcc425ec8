"""Where notices go: a task's own destinations (one per address), and the settings' Slack and
email as registered destinations."""

from __future__ import annotations

import json
import logging
from typing import Any

from dispatcher.netguard import BlockedAddress, check_slack_url, check_url
from receiver.errors import Unprocessable
from receiver.services.secrets import SecretBox, redact_url
from receiver.services.validation import Submission
from receiver.settings import Settings
from store import NewDestination, Registration, TaskStore

log = logging.getLogger("reelhook.destinations")


def task_destinations(
    submission: Submission, settings: Settings, secrets: SecretBox
) -> tuple[NewDestination, ...]:
    """The task's own destinations, one per address (sealed). The settings' Slack and email
    are registered destinations (`settings_registrations`), notified of every task."""
    chosen: dict[str, NewDestination] = {}
    for index, item in enumerate(submission.notify):
        if item["channel"] == "email" and not settings.smtp_url:
            raise Unprocessable(EMAIL_NEEDS_SMTP, field=f"notify[{index}].to")
        check_reachable(f"notify[{index}]", item, settings)
    for item in submission.notify:
        destination = new_destination(item, secrets)
        chosen.setdefault(destination.route_key, destination)
    return tuple(chosen.values())


EMAIL_NEEDS_SMTP = "email notices need REELHOOK_SMTP_URL on the server; use slack or webhook"


def check_reachable(where: str, item: dict[str, Any], settings: Settings) -> None:
    """User URLs must lead to public addresses (Slack's host for Slack), unless allowed or
    trusted; Unprocessable names `where`.url."""
    check = check_slack_url if item["channel"] == "slack" else check_url
    if "url" in item:
        try:
            check(item["url"], allow_private=settings.allow_private_urls,
                  trusted=settings.trusted_hosts)
        except BlockedAddress as exc:
            raise Unprocessable(str(exc), field=f"{where}.url" if where else "url") from exc


async def register_settings_destinations(
    store: TaskStore, settings: Settings, secrets: SecretBox
) -> None:
    """Make the destinations the settings name registered ones (at every start)."""
    wanted = settings_registrations(settings, secrets)
    for name in await store.destinations.sync_managed(SETTINGS, wanted):
        log.info("registered destination %s from the settings", name)


def settings_registrations(settings: Settings, secrets: SecretBox) -> list[Registration]:
    """REELHOOK_SLACK_WEBHOOK_URL and REELHOOK_EMAIL_TO as registered destinations (named
    settings-slack, settings-email, settings-email-2, ...), notified of REELHOOK_NOTIFY_ON."""
    items: list[tuple[str, dict[str, Any]]] = []
    if settings.slack_webhook_url:
        items.append(("settings-slack", {"channel": "slack", "url": settings.slack_webhook_url}))
    for number, address in enumerate(settings.email_to, start=1):
        name = "settings-email" if number == 1 else f"settings-email-{number}"
        items.append((name, {"channel": "email", "to": address}))
    on = tuple(sorted(settings.notify_on))
    return [registration(name, item, on, secrets, managed_by=SETTINGS) for name, item in items]


SETTINGS = "settings"


def registration(
    name: str, item: dict[str, Any], on: tuple[str, ...], secrets: SecretBox, **fields: Any
) -> Registration:
    """A registered destination for `item` (channel and address, as a notify entry)."""
    made = new_destination(item, secrets)
    return Registration(name, made.channel, made.target, made.label, made.route_key, on,
                        **fields)


def new_destination(item: dict[str, Any], secrets: SecretBox) -> NewDestination:
    """A notify entry sealed, with its safe label and route key."""
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
