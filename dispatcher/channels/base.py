"""The one interface every channel has."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from dispatcher.notice import Notice

Target = Mapping[str, str]
# (channel, url) -> None, or ConfigError when the URL may not be called.
UrlCheck = Callable[[str, str], None]


class Channel(Protocol):
    """Sends notices to one kind of destination.

    `target` is the destination's decrypted fields (`url`, `to`, `secret`). `send` returns the
    receiving end's status code (None when it has none) and raises a DeliveryError otherwise.
    Channels whose `max_batch` is above 1 can combine several notices into one message.
    """

    name: str
    max_batch: int

    async def send(self, target: Target, notices: Sequence[Notice]) -> int | None:
        """Deliver the notices as one message; raise DeliveryError or ConfigError on failure."""
        ...
