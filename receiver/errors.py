"""Errors of the receiver, turned into HTTP answers at the edge.

ReceiverError
 ├── SettingsError       a missing or malformed setting (stops the start)
 ├── StartupError        the database or the port cannot be used (stops the start, one line)
 └── ApiError            anything answered to a client or provider with a JSON error body
      ├── BadRequest         400: malformed body
      ├── Unauthorized       401: missing or wrong token or secret
      ├── Forbidden          403: a read-only token asked for a change
      ├── NotFound           404: no such task or route
      ├── MethodNotAllowed   405
      ├── Conflict           409: the request cannot apply to the resource's current state
      ├── PayloadTooLarge    413
      ├── UnsupportedMedia   415
      ├── RangeNotSatisfiable 416: a byte range outside the resource
      ├── Unprocessable      422: a field breaks a rule (names the field)
      ├── TooManyRequests    429: too many refused tokens from this address; wait
      └── ServiceUnavailable 503: the store cannot write now; retry later
"""

from __future__ import annotations


class ReceiverError(Exception):
    """Base class of every receiver error."""


class SettingsError(ReceiverError):
    """A setting is missing or malformed; the message is one line naming it."""


class StartupError(ReceiverError):
    """`serve` cannot start: the message is one line naming the path or port."""


class ApiError(ReceiverError):
    """An error answered as {"error": {"code", "message", "field"}}."""

    status = 500
    code = "internal"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> ErrorBody:
        """The JSON error body."""
        return error_body(self.code, self.message, self.field)


ErrorBody = dict[str, dict[str, str | None]]


def error_body(code: str, message: str, field: str | None = None) -> ErrorBody:
    """Every JSON error answer's one shape: `field` is always there, null when the error is not
    about one field (DESIGN.md's {"error": {"code", "message", "field"}})."""
    return {"error": {"code": code, "message": message, "field": field}}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    """403: the token is known but may not do this (a read-only token)."""

    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMedia(ApiError):
    status, code = 415, "unsupported_media_type"


class RangeNotSatisfiable(ApiError):
    """416: the asked byte range lies outside the resource of `size` bytes."""

    status = 416
    code = "range_not_satisfiable"

    def __init__(self, message: str, size: int, field: str | None = None) -> None:
        super().__init__(message, field)
        self.size = size


class Unprocessable(ApiError):
    status, code = 422, "invalid_field"


class TooManyRequests(ApiError):
    """429: this client must wait `retry_after` seconds before it is answered again."""

    status, code = 429, "too_many_requests"

    def __init__(self, message: str, retry_after: float, field: str | None = None) -> None:
        super().__init__(message, field)
        self.retry_after = retry_after


class ServiceUnavailable(ApiError):
    status, code = 503, "unavailable"
