"""Paging for the listings (tasks, deliveries, inbound messages): one limit rule, one cursor
rule per kind of id, one way to cut a page."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from receiver.errors import BadRequest, NotFound, Unprocessable
from store.models import TASK_ID, iso_of

Row = TypeVar("Row")

DEFAULT_PAGE = 50
MAX_PAGE = 200
MAX_ID = 2**62


def known_params(
    query: Mapping[str, str], allowed: Iterable[str], prefixes: Iterable[str] = ()
) -> None:
    """BadRequest naming the first query parameter that is not `allowed` (nor starts with one
    of `prefixes`): a misspelled filter must not silently list everything."""
    names = list(allowed)
    starts = tuple(prefixes)
    for name in query:
        if name not in names and not (starts and name.startswith(starts)):
            shown = ", ".join([*names, *(f"{start}KEY" for start in starts)])
            raise BadRequest(f"unknown query parameter {name[:60]!r}; allowed: {shown}",
                             field=name[:60])


def moment(raw: str | None, name: str) -> str | None:
    """An ISO 8601 time (a date, or a date and time with an offset or Z) as tasks record
    times (UTC, milliseconds, Z); Unprocessable names the field otherwise."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Unprocessable(
            f"{name} must be an ISO 8601 time such as 2026-12-05 or 2026-12-05T08:00:00Z",
            field=name,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return iso_of(parsed.astimezone(UTC))  # no float on the way: .123 stays .123


def whole_number(raw: str | None, name: str, default: int | None, high: int) -> int:
    """`raw` as a whole number from 1 to `high` (the default when absent); Unprocessable names
    the field otherwise."""
    if raw is None and default is not None:
        return default
    number = _whole(raw, high)
    if number is None:
        raise Unprocessable(f"{name} must be a whole number from 1 to {high}", field=name)
    return number


def path_id(raw: str, kind: str) -> int:
    """The whole-number id in a path (a delivery's, a destination's); NotFound for anything
    else, as for an id no row has."""
    number = _whole(raw, MAX_ID)
    if number is None:
        raise NotFound(f"no {kind} with id {raw[:60]!r}", field="id")
    return number


def _whole(raw: str | None, high: int) -> int | None:
    """`raw` as a whole number from 1 to `high`, else None."""
    # The length is checked first: int() of thousands of digits is slow, then refused.
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(high)):
        return None
    number = int(raw)
    return number if 1 <= number <= high else None


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
    rows: list[Row], limit: int, cursor_of: Callable[[Row], str]
) -> tuple[list[Row], str | None]:
    """The first `limit` rows (fetched as limit + 1) and the cursor of the next page, if any."""
    page = rows[:limit]
    return page, (cursor_of(page[-1]) if len(rows) > limit else None)
