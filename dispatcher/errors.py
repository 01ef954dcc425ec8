"""Errors raised by the dispatcher and its channels.

DispatchError
 ├── ConfigError          a destination cannot be used as configured (no SMTP server, bad target)
 └── DeliveryError        one send failed; says what the receiving end did
      ├── Unreachable         no answer: refused connection, DNS, TLS, or a timeout
      ├── Refused             an answer that is not success (HTTP status or SMTP reply code)
      └── DestinationGone     the destination no longer exists (Slack 404/410): disable it
"""

from __future__ import annotations


class DispatchError(Exception):
    """Base class of every dispatcher error."""


class ConfigError(DispatchError):
    """The destination or the channel's settings make sending impossible; retrying won't help."""


class DeliveryError(DispatchError):
    """A send failed. `status_code` is the answer's code when there was one."""

    status_code: int | None = None


class Unreachable(DeliveryError):
    """No answer came: connection refused or reset, DNS, TLS, or the timeout passed."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class Refused(DeliveryError):
    """The other end answered with a failure. `protocol` is http or smtp; `retry_after` is the
    wait it asked for, in seconds."""

    def __init__(
        self,
        message: str,
        status_code: int,
        *,
        protocol: str = "http",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.protocol = protocol
        self.retry_after = retry_after


class DestinationGone(DeliveryError):
    """The destination is gone for good (a deleted Slack webhook, an archived channel)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code
