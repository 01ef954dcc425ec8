"""Paging for the listings (tasks, deliveries, inbound messages): one limit rule, one cursor
rule per kind of id, one way to cut a page."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from receiver.errors import Unprocessable
from store.models import TASK_ID

DEFAULT_PAGE = 50
MAX_PAGE = 200
MAX_ID = 2**62


def whole_number(raw: str | None, name: str, default: int | None, high: int) -> int:
    """`raw` as a whole number from 1 to `high` (the default when absent); Unprocessable names
    the field otherwise."""
    if raw is None and default is not None:
        return default
    if raw is None or not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= high:
        raise Unprocessable(f"{name} must be a whole number from 1 to {high}", field=name)
    return int(raw)


def query_choice(raw: str | None, name: str, allowed: Iterable[str]) -> str | None:
    """An optional query or form value that must be one of `allowed`; None when absent."""
    if raw is None or raw == "":
        return None
    choices = list(allowed)
    if raw not in choices:
        raise Unprocessable(f"{name} must be one of {', '.join(choices)}", field=name)
    return raw


def page_limit(raw: str | None) -> int:
    """The `limit` query parameter: 1 to MAX_PAGE, DEFAULT_PAGE when absent."""
    return whole_number(raw, "limit", DEFAULT_PAGE, MAX_PAGE)


def id_cursor(raw: str | None) -> int | None:
    """The `cursor` of a listing keyed by whole-number ids (deliveries, inbound messages)."""
    return whole_number(raw, "cursor", None, MAX_ID) if raw else None


def task_cursor(raw: str | None) -> str | None:
    """The `cursor` of the task listing: a task id, as `next_cursor` gave it."""
    if not raw:
        return None
    if not TASK_ID.fullmatch(raw):
        raise Unprocessable(
            "cursor must be a task id (tsk_ and 28 hex digits), as next_cursor gave it",
            field="cursor",
        )
    return raw


def one_page(
    rows: list[dict[str, Any]], limit: int, cursor_of: Callable[[dict[str, Any]], str]
) -> tuple[list[dict[str, Any]], str | None]:
    """The first `limit` rows (fetched as limit + 1) and the cursor of the next page, if any."""
    page = rows[:limit]
    return page, (cursor_of(page[-1]) if len(rows) > limit else None)
