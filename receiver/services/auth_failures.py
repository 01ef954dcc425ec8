"""Failed sign-ins and refused API tokens, counted per client address: each is logged (the
address and the route, never the token), and an address past FAILURES_ALLOWED in WINDOW seconds
gets 429 with Retry-After for every wrong token until its oldest failure leaves the window. A
right token always passes, so nobody sharing an address (a proxy, an office) can lock out an
operator; counts are per process."""

from __future__ import annotations

import collections
import logging
import math
import time

log = logging.getLogger("reelhook.auth")
FAILURES_ALLOWED = 20
WINDOW = 60.0  # seconds
ADDRESSES_KEPT = 10_000  # beyond this many addresses the oldest are forgotten


class FailedAuth:
    """Recent failures per address."""

    def __init__(self, allowed: int = FAILURES_ALLOWED, window: float = WINDOW) -> None:
        self.allowed = allowed
        self.window = window
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def failed(self, address: str, what: str) -> float:
        """Record a failure from `address`; the whole seconds it must wait before another try
        is judged (0: it may try again at once)."""
        now = time.monotonic()
        times = self._recent(address, now)
        times.append(now)
        self._failures.move_to_end(address)
        while len(self._failures) > ADDRESSES_KEPT:
            self._failures.popitem(last=False)
        if len(times) <= self.allowed:
            log.warning("refused %s from %s (%d in the last %.0f s)", what, address, len(times),
                        self.window)
            return 0.0
        wait = math.ceil(times[0] + self.window - now)
        if len(times) == self.allowed + 1:
            log.warning("%s: more than %d refused tokens in %.0f s; wrong ones get 429 for %d s",
                        address, self.allowed, self.window, wait)
        return float(max(wait, 1))

    def _recent(self, address: str, now: float) -> collections.deque[float]:
        times = self._failures.setdefault(address, collections.deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
