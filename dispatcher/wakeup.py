"""A wake-up call for a loop that otherwise looks for work on a timer."""

from __future__ import annotations

import asyncio
import contextlib


class Wakeup:
    """Set by whoever makes work; the loop waits on it, up to its own interval, then looks."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        """There is work now: end the current (or next) wait at once."""
        self._event.set()

    async def wait(self, timeout: float) -> None:
        """Wait until set or `timeout` seconds pass (no wait when it is 0), then reset."""
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
