"""The channels built for a worker, and the check every user URL passes before a send."""

from __future__ import annotations

import functools

import aiohttp

from dispatcher.channels.base import Channel, UrlCheck
from dispatcher.channels.email import EmailChannel, SmtpConfig
from dispatcher.channels.slack import SlackChannel
from dispatcher.channels.webhook import WebhookChannel
from dispatcher.errors import ConfigError
from dispatcher.netguard import BlockedAddress, check_slack_url, check_url

CHANNELS: tuple[type[Channel], ...] = (SlackChannel, EmailChannel, WebhookChannel)


def build_channels(
    session: aiohttp.ClientSession,
    smtp: SmtpConfig | None,
    timeout: float,
    url_check: UrlCheck | None = None,
) -> dict[str, Channel]:
    """Every channel by name, sharing one HTTP session; `url_check` vets each URL first."""
    return {
        "slack": SlackChannel(session, timeout, url_check),
        "email": EmailChannel(smtp, timeout),
        "webhook": WebhookChannel(session, timeout, url_check),
    }


def url_check(
    allow_private: bool, trusted: frozenset[str], trusted_hosts: frozenset[tuple[str, int]]
) -> UrlCheck:
    """The submit-time rules for user URLs (public addresses; Slack's host for Slack), as a
    check before each send; ConfigError (final) when a stored destination breaks them. The
    verdict on a URL is worked out once per destination, not per send (it needs no DNS: the
    connect-time address check stays on every connection)."""

    @functools.lru_cache(maxsize=4096)
    def refusal(channel: str, url: str) -> str | None:
        try:
            (check_slack_url if channel == "slack" else check_url)(
                url, allow_private=False, trusted=trusted_hosts)
        except BlockedAddress as exc:
            return f"destination refused: {exc}"
        return None

    def check(channel: str, url: str) -> None:
        if allow_private or url in trusted:
            return
        if (reason := refusal(channel, url)) is not None:
            raise ConfigError(reason)

    return check
