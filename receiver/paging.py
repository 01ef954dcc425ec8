"""Paging for the listings (tasks and deliveries): one limit rule, one cursor rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from receiver.errors import Unprocessable

DEFAULT_PAGE = 50
MAX_PAGE = 200


def whole_number(raw: str | None, name: str, default: int | None, high: int) -> int:
    """`raw` as a whole number from 1 to `high` (the default when absent); Unprocessable names
    the field otherwise."""
    if raw is None and default is not None:
        return default
    if raw is None or not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= high:
        raise Unprocessable(f"{name} must be a whole number from 1 to {high}", field=name)
    return int(raw)


def page_limit(raw: str | None) -> int:
    """The `limit` query parameter: 1 to MAX_PAGE, DEFAULT_PAGE when absent."""
    return whole_number(raw, "limit", DEFAULT_PAGE, MAX_PAGE)


def one_page(
    rows: list[dict[str, Any]], limit: int, cursor_of: Callable[[dict[str, Any]], str]
) -> tuple[list[dict[str, Any]], str | None]:
    """The first `limit` rows (fetched as limit + 1) and the cursor of the next page, if any."""
    page = rows[:limit]
    return page, (cursor_of(page[-1]) if len(rows) > limit else None)
