"""Plain-text tables for a terminal: the command line and the offline demo print them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as aligned plain-text columns under their headers; the last column is not padded,
    so long URLs and errors stay whole."""
    cells = [[str(cell) for cell in headers]] + [
        ["-" if cell is None or cell == "" else str(cell) for cell in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers) - 1)]
    return "\n".join(
        "  ".join(
            [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        ).rstrip()
        for row in cells
    )


def money(value: Any) -> str:
    """$1.23, or - when unknown."""
    return "-" if value is None else f"${float(value):.2f}"


def task_table(tasks: list[dict[str, Any]]) -> str:
    """Tasks as a plain-text table."""
    return table(
        ("ID", "PROVIDER", "MODEL", "STATUS", "PROGRESS", "COST", "KEPT", "VIDEO"),
        [(t["id"], t["provider"], t["model"], t["status"], f"{t.get('progress') or 0}%",
          money(t.get("cost_usd")), kept_text(t.get("video")), t.get("video_url") or t.get("error"))
         for t in tasks],
    )


def kept_text(video: dict[str, Any] | None) -> str:
    """What is kept of a task's video, in a few words: kept 1.9 kB, failed, pending..."""
    if not video:
        return "-"
    if video["status"] == "kept" and video.get("bytes") is not None:
        return f"kept {human_bytes(int(video['bytes']))}"
    return str(video["status"])


def human_bytes(size: int) -> str:
    """A size as 512 B, 1.9 kB, 23.4 MB or 1.2 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
