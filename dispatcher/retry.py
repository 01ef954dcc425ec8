"""The retry policy: pure functions from the outcome of an attempt to the wait before the next.

The first attempt goes out at once; after a failure that is worth retrying, the n-th wait of the
schedule passes before attempt n + 1 (Svix's schedule by default: 5 s, 5 min, 30 min, 2 h, 5 h,
10 h, 10 h, so eight attempts in all), spread by ±20 % so that retries do not arrive in lockstep.
A `Retry-After` from the receiver replaces the scheduled wait. When the schedule is used up, or
the failure is final, there is no next attempt and the delivery is dead.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from dispatcher.errors import DestinationGone, DispatchError, Refused, Unreachable

DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
DEFAULT_JITTER = 0.2
MAX_RETRY_AFTER = 24 * 3600.0  # a receiver asking for more than a day is treated as asking a day
_RETRY_HTTP = frozenset({408, 429})


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended. `attempt` counts attempts of this cycle, this one included."""

    attempt: int
    status_code: int | None = None
    protocol: str = "http"
    error: str | None = None
    unreachable: bool = False
    gone: bool = False
    final: bool = False
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        """True when the attempt delivered the notice."""
        return self.error is None


def outcome_of(error: DispatchError | None, attempt: int, status_code: int | None) -> Outcome:
    """The outcome of an attempt that raised `error` (None: it succeeded with `status_code`)."""
    if error is None:
        return Outcome(attempt, status_code=status_code)
    text = str(error) or type(error).__name__
    if isinstance(error, Unreachable):
        return Outcome(attempt, error=text, unreachable=True)
    if isinstance(error, DestinationGone):
        return Outcome(attempt, status_code=error.status_code, error=text, gone=True)
    if isinstance(error, Refused):
        return Outcome(attempt, error.status_code, error.protocol, text,
                       retry_after=error.retry_after)
    return Outcome(attempt, error=text, final=True)


def is_retryable(outcome: Outcome) -> bool:
    """Network errors, timeouts, HTTP 5xx, 408 and 429, SMTP 4xx: yes. Anything else: no."""
    if outcome.succeeded or outcome.gone or outcome.final:
        return False
    if outcome.unreachable or outcome.status_code is None:
        return True
    if outcome.protocol == "smtp":
        return 400 <= outcome.status_code < 500
    return outcome.status_code >= 500 or outcome.status_code in _RETRY_HTTP


def retry_after(
    outcome: Outcome,
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE,
    spread: float = 0.0,
    jitter: float = DEFAULT_JITTER,
) -> float | None:
    """Seconds to wait before the next attempt, or None when there is none.

    `spread` in [-1, 1] picks where in the ±`jitter` band the scheduled wait lands; the caller
    draws it at random, which keeps this function pure.
    """
    if not is_retryable(outcome) or outcome.attempt > len(schedule):
        return None
    if outcome.retry_after is not None:
        return min(max(outcome.retry_after, 0.0), MAX_RETRY_AFTER)
    return max(0.0, schedule[outcome.attempt - 1] * (1.0 + jitter * spread))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from `now`; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)
