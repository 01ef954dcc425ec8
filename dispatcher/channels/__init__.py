"""The channels notices go out through: slack, email, webhook."""

from __future__ import annotations

import aiohttp

from dispatcher.channels.base import Channel, Target
from dispatcher.channels.email import EmailChannel, SmtpConfig
from dispatcher.channels.slack import SlackChannel
from dispatcher.channels.webhook import WebhookChannel

__all__ = ["CHANNEL_NAMES", "Channel", "SmtpConfig", "Target", "build_channels"]

# Every channel's name, as a notify entry, a destination and the API give it.
CHANNEL_NAMES: tuple[str, ...] = (SlackChannel.name, EmailChannel.name, WebhookChannel.name)


def build_channels(
    session: aiohttp.ClientSession, smtp: SmtpConfig | None, timeout: float
) -> dict[str, Channel]:
    """Every channel by name, sharing one HTTP session."""
    return {
        "slack": SlackChannel(session, timeout),
        "email": EmailChannel(smtp, timeout),
        "webhook": WebhookChannel(session, timeout),
    }
