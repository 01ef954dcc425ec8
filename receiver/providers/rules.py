"""Validation rules shared by several providers. Each raises InvalidRequest naming the field."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from receiver.providers.errors import InvalidRequest

_DATA_URI = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.*)$", re.IGNORECASE | re.DOTALL)


def require(field: str, value: Any) -> None:
    """The field must be present and not empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidRequest(field, f"{field} is required for this model")


def refuse(field: str, value: Any, model: str) -> None:
    """The field is not supported by the model and must be left out."""
    if value is not None:
        raise InvalidRequest(field, f"{field} is not supported by {model}; leave it out")


def one_of(field: str, value: Any, allowed: Collection[str]) -> None:
    """When given, the value must be one of `allowed`."""
    if value is not None and value not in allowed:
        raise InvalidRequest(field, f"{field} must be one of {', '.join(allowed)}; got {value!r}")


def number_in(
    field: str, value: float | None, low: float, high: float, *, low_open: bool = False
) -> None:
    """When given, low <= value <= high (low < value when low_open)."""
    if value is None:
        return
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bracket = "(" if low_open else "["
        raise InvalidRequest(
            field, f"{field} must be in {bracket}{low:g}, {high:g}]; got {value:g}"
        )


def whole_number_in(field: str, value: float | None, low: int, high: int) -> None:
    """When given, a whole number from low to high."""
    if value is None:
        return
    if value != int(value) or not low <= value <= high:
        raise InvalidRequest(
            field, f"{field} must be a whole number from {low} to {high}; got {value:g}"
        )


def max_length(field: str, value: str | None, limit: int) -> None:
    """When given, at most `limit` characters."""
    if value is not None and len(value) > limit:
        raise InvalidRequest(field, f"{field} must be at most {limit} characters; got {len(value)}")


def only_keys(field: str, given: Mapping[str, Any], allowed: Collection[str]) -> None:
    """Every key of `given` must be in `allowed`."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        names = ", ".join(sorted(allowed)) or "none"
        raise InvalidRequest(
            f"{field}.{unknown[0]}", f"{field} does not take {', '.join(unknown)}; allowed: {names}"
        )


def image_reference(field: str, value: str | None) -> None:
    """When given, an http(s) URL or a data:image/...;base64, URI that decodes."""
    if value is None:
        return
    if is_data_uri(value):
        decode_data_uri(field, value)
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequest(
            field, f"{field} must be an http(s) URL or a data:image/...;base64, URI"
        )


def is_data_uri(value: str) -> bool:
    """True when the value looks like a data: URI."""
    return value[:5].lower() == "data:"


def decode_data_uri(field: str, value: str) -> tuple[str, bytes]:
    """The media type and bytes of a data:image URI; InvalidRequest when it is not one."""
    match = _DATA_URI.match(value)
    if match is None:
        raise InvalidRequest(field, f"{field} data URI must be data:image/<type>;base64,<data>")
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(field, f"{field} data URI is not valid base64") from exc
    if not data:
        raise InvalidRequest(field, f"{field} data URI holds no image")
    return match.group(1).lower(), data
