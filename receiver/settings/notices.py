"""Where notices and alerts go: Slack, email (SMTP) and the operator's alerts; which states
notify."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parseaddr
from urllib.parse import urlsplit

from dispatcher.whsec import WHSEC_RULE, is_whsec_key
from receiver.errors import SettingsError
from receiver.settings.values import comma_list
from store.states import DEFAULT_NOTIFY_ON, STATES

ALERT_CHANNELS = ("slack", "webhook", "email")


def alerts_to(env: Mapping[str, str]) -> tuple[str, str] | None:
    """REELHOOK_ALERTS_TO: `slack:URL`, `webhook:URL`, `email:ADDRESS`, or the address alone
    (an email address; a hooks.slack.com URL is Slack, any other URL a webhook)."""
    raw = env.get("REELHOOK_ALERTS_TO", "").strip()
    if not raw:
        return None
    named, _, rest = raw.partition(":")
    channel, address = (named, rest.strip()) if named in ALERT_CHANNELS else ("", raw)
    if address.startswith("mailto:"):
        channel, address = "email", address.removeprefix("mailto:")
    if not channel:
        host = urlsplit(address).hostname or ""
        channel = ("email" if "://" not in address else
                   "slack" if host == "hooks.slack.com" else "webhook")
    rule = "REELHOOK_ALERTS_TO must be slack:URL, webhook:URL, email:ADDRESS or one of those alone"
    if channel == "email":
        if "@" not in address or any(c in address for c in "\r\n<>, "):
            what = ("an email address that is not one" if "@" in address or named == "email"
                    else "neither an http(s) URL nor an email address")
            raise SettingsError(f"{rule}; got {what}")
        if not env.get("REELHOOK_SMTP_URL"):
            raise SettingsError("REELHOOK_ALERTS_TO by email needs REELHOOK_SMTP_URL")
    elif urlsplit(address).scheme not in ("http", "https") or not urlsplit(address).hostname:
        raise SettingsError(f"{rule}; the URL must be http(s)")
    return channel, address


def alerts_secret(env: Mapping[str, str]) -> str | None:
    """REELHOOK_ALERTS_SECRET: the whsec_ key that signs webhook alerts; None when unset."""
    secret = env.get("REELHOOK_ALERTS_SECRET", "").strip()
    if secret and not is_whsec_key(secret):
        raise SettingsError(f"REELHOOK_ALERTS_SECRET must be {WHSEC_RULE}")
    return secret or None


def smtp_url(env: Mapping[str, str]) -> str | None:
    """REELHOOK_SMTP_URL: smtp:// or smtps://, with a host; None when unset."""
    value = env.get("REELHOOK_SMTP_URL")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError(
            "REELHOOK_SMTP_URL must look like smtp://user:pass@host:port or smtps://..."
        )
    return value


def notify_on(env: Mapping[str, str]) -> frozenset[str]:
    """REELHOOK_NOTIFY_ON: the states that send notices."""
    states = comma_list(env.get("REELHOOK_NOTIFY_ON", ",".join(sorted(DEFAULT_NOTIFY_ON))))
    unknown = [state for state in states if state not in STATES]
    if unknown or not states:
        raise SettingsError(
            f"REELHOOK_NOTIFY_ON takes a comma-separated list of {', '.join(STATES)}"
        )
    return frozenset(states)


def email_from(env: Mapping[str, str]) -> str | None:
    """REELHOOK_EMAIL_FROM: an address, with or without a display name ("reelhook <a@b.c>")."""
    value = env.get("REELHOOK_EMAIL_FROM", "").strip()
    if not value:
        return None
    _, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or any(c in value for c in "\r\n"):
        raise SettingsError(
            "REELHOOK_EMAIL_FROM must be an email address such as reelhook@example.com"
            " or 'reelhook <reelhook@example.com>'"
        )
    return value


def email_to(env: Mapping[str, str]) -> tuple[str, ...]:
    """REELHOOK_EMAIL_TO: the recipients of email notices (needs REELHOOK_SMTP_URL)."""
    recipients = comma_list(env.get("REELHOOK_EMAIL_TO", ""))
    if env.get("REELHOOK_SMTP_URL") and not env.get("REELHOOK_EMAIL_FROM"):
        raise SettingsError("REELHOOK_EMAIL_FROM is required with REELHOOK_SMTP_URL (the sender)")
    if recipients and not env.get("REELHOOK_SMTP_URL"):
        raise SettingsError("REELHOOK_EMAIL_TO needs REELHOOK_SMTP_URL (the server to send with)")
    if any("@" not in address or any(c in address for c in "\r\n<>") for address in recipients):
        raise SettingsError("REELHOOK_EMAIL_TO takes comma-separated email addresses")
    return recipients
