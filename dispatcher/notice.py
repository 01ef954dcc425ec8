"""What a notice says: the facts of one task in one state, the same for every channel."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatcher.links import VideoLinks
from store.states import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, VIDEO_KEPT
from store.task_json import VideoLink, json_or_none, task_json

PROMPT_LIMIT = 200
STATE_WORDS = {
    SUCCEEDED: "Video ready",
    FAILED: "Video failed",
    CANCELLED: "Video cancelled",
    QUEUED: "Video queued",
    RUNNING: "Video in progress",
    "test": "Test notice",
}


@dataclass(frozen=True)
class Notice:
    """One delivery's message: the task as it stands, announced in `state`."""

    delivery_id: int
    task_id: str
    state: str
    provider: str
    model: str
    prompt: str | None = None
    video_url: str | None = None
    error: str | None = None
    cost_usd: float | None = None
    video_seconds: float | None = None
    elapsed_seconds: float | None = None
    task: dict[str, Any] | None = None
    occurred_at: str | None = None  # ISO 8601 UTC: when the task reached `state`

    @property
    def headline(self) -> str:
        """One line saying what happened, e.g. "Video ready: piapi Qubico/skyreels"."""
        return f"{STATE_WORDS.get(self.state, self.state)}: {self.provider} {self.model}"

    @property
    def message_id(self) -> str:
        """An id for this notice that stays the same across retries (Standard Webhooks id)."""
        digest = hashlib.sha256(f"{self.task_id}:{self.state}:{self.delivery_id}".encode())
        return f"msg_{digest.hexdigest()[:32]}"

    def facts(self) -> list[tuple[str, str]]:
        """The known facts as (name, value) pairs, in the order every channel shows them."""
        pairs = [("State", self.state), ("Provider", self.provider), ("Model", self.model)]
        if self.prompt:
            pairs.append(("Prompt", shorten(self.prompt)))
        if self.video_seconds is not None:
            pairs.append(("Duration", f"{self.video_seconds:g} s"))
        if self.elapsed_seconds is not None:
            pairs.append(("Took", human_seconds(self.elapsed_seconds)))
        if self.cost_usd is not None:
            pairs.append(("Cost", f"${self.cost_usd:.2f}"))
        if self.error:
            pairs.append(("Error", self.error))
        if self.video_url:
            pairs.append(("Video", self.video_url))
        pairs.append(("Task", self.task_id))
        return pairs


def sample_notice() -> Notice:
    """The notice a destination's "send a test notice" sends: state `test`, no real task."""
    return Notice(delivery_id=0, task_id="tsk_" + "0" * 28, state="test", provider="reelhook",
                  model="test notice", prompt="A test notice from reelhook: it reached you.")


def notice_from_row(row: Mapping[str, Any], links: VideoLinks | None = None) -> Notice:
    """The notice of a due delivery row (deliveries joined with destinations and tasks); with
    `links`, a kept video is linked to by reelhook's lasting link, not the provider's. The link
    counts its lifetime from when the notice was queued, so every attempt sends the same one."""
    request = json_or_none(row.get("request")) or {}
    video_link = _link_maker(links, row.get("queued_at"))
    kept = video_link is not None and row.get("video_status") == VIDEO_KEPT
    return Notice(
        delivery_id=int(row["delivery_id"]),
        task_id=row["task_id"],
        state=row["state"],
        provider=row["provider"],
        model=row["model"],
        prompt=request.get("prompt"),
        video_url=video_link(row["task_id"]) if kept and video_link else row.get("video_url"),
        error=row.get("error") if row["state"] in (FAILED, CANCELLED) else None,
        cost_usd=row.get("cost_usd"),
        video_seconds=request.get("duration"),
        elapsed_seconds=_elapsed(row) if row["state"] in (SUCCEEDED, FAILED) else None,
        task=task_document(row, video_link),
        occurred_at=row.get("queued_at"),
    )


def _link_maker(links: VideoLinks | None, queued_at: str | None) -> VideoLink | None:
    if links is None:
        return None
    since = _epoch(queued_at)
    return lambda task_id: links.url(task_id, now=since)


def task_document(row: Mapping[str, Any], video_link: VideoLink | None = None) -> dict[str, Any]:
    """The task as webhook receivers get it (the client API's shape), in the announced state."""
    return task_json({**row, "id": row["task_id"]}, status=row["state"], video_link=video_link)


def shorten(text: str, limit: int = PROMPT_LIMIT) -> str:
    """The text cut to `limit` characters at a word boundary, with an ellipsis if cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return f"{cut}…"


def human_seconds(seconds: float) -> str:
    """A duration as 42 s, 3 min 5 s or 2 h 10 min."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _elapsed(row: Mapping[str, Any]) -> float | None:
    try:
        start = datetime.fromisoformat(str(row["created_at"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(row["updated_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return max(0.0, (end - start).total_seconds())


def _epoch(iso: str | None) -> float | None:
    """An ISO 8601 time as Unix seconds; None when absent or malformed (then: now)."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
