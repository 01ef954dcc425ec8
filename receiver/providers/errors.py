"""Errors raised by provider adapters.

ProviderError
 ├── InvalidRequest       the request breaks the provider's documented rules (names the field)
 ├── ProviderRejected     the provider refused the call (an error envelope or a 4xx answer)
 ├── ProviderUnavailable  network error, timeout or 5xx: the call may work later
 │    └── ProviderBusy    429 or a concurrency limit: try again later, the task is not failed
 ├── ProviderProtocolError  an answer we cannot read
 ├── CancelNotSupported   the provider (or the task's state there) does not allow cancelling
 └── MalformedCallback    a callback body that is not what the provider sends
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base class of every provider error."""


class InvalidRequest(ProviderError):
    """A field breaks the provider's rules; `message` says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ProviderRejected(ProviderError):
    """The provider answered with an error; the message is the provider's own."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed on its side."""


class ProviderBusy(ProviderUnavailable):
    """The provider asked us to slow down; `retry_after` is seconds, when it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderProtocolError(ProviderError):
    """The provider's answer could not be read."""


class CancelNotSupported(ProviderError):
    """Cancelling is not possible for this provider or this task now."""


class MalformedCallback(ProviderError):
    """The callback body is not a shape this provider sends."""
