"""Jinja filters of the dashboard's templates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NONE = "\u2013"  # an en dash for "unknown"


def money(value: Any) -> str:
    """$1.23, or an en dash when unknown."""
    return NONE if value is None else f"${float(value):,.2f}"


def when(value: Any) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM:SS' (UTC)."""
    return NONE if not value else str(value)[:19].replace("T", " ")


def ago(value: Any) -> str:
    """How long ago an ISO time was, shortly: 5s, 3m, 2h, 4d."""
    if not value:
        return NONE
    try:
        then = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def web_url(value: Any) -> str | None:
    """The URL when it is http(s), else None: provider text never becomes a script link."""
    text = str(value or "")
    return text if text.startswith(("https://", "http://")) else None


def short(value: Any, size: int = 80) -> str:
    """Text cut to `size` characters with an ellipsis."""
    text = " ".join(str(value or "").split())
    return text if len(text) <= size else text[: size - 1] + "…"


FILTERS = {"money": money, "when": when, "ago": ago, "web_url": web_url, "short": short}


class Templates:
    """The dashboard's Jinja templates (autoescaped, with FILTERS). The environment is made at
    the first page: a process that serves no page, most of them, never imports Jinja."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._environment: Any = None

    def render(self, name: str, context: dict[str, Any]) -> str:
        """The template `name` rendered with `context`."""
        if self._environment is None:
            import jinja2

            environment = jinja2.Environment(
                loader=jinja2.FileSystemLoader(self._folder), autoescape=True
            )
            environment.filters.update(FILTERS)
            self._environment = environment
        return str(self._environment.get_template(name).render(context))
