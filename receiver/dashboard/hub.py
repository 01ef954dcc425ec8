"""The live view's event hub: task changes fanned out to every open dashboard stream.

The seam: `publish` takes a task row. The task service of this process calls it after each
committed creation or change (it is the service's `on_change`); with several processes on one
database, a change feed of that database (PostgreSQL LISTEN/NOTIFY) would call the same `publish`
for changes made elsewhere.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from dispatcher.links import VideoLinks
from receiver.http.serializers import task_view

QUEUE_SIZE = 256
_CLOSED: dict[str, Any] = {"closed": True}


class EventHub:
    """Fan-out of task changes to subscribers; a slow subscriber loses events, never blocks."""

    def __init__(self, links: VideoLinks | None = None) -> None:
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self.links = links
        self._streams: collections.Counter[str] = collections.Counter()  # open, per session

    @contextlib.contextmanager
    def stream_of(self, session_id: str, most: int) -> Iterator[bool]:
        """Count one open stream of a session for as long as the block lasts; yields False
        (and counts nothing) when the session already has `most` open."""
        if self._streams[session_id] >= most:
            yield False
            return
        self._streams[session_id] += 1
        try:
            yield True
        finally:
            self._streams[session_id] -= 1
            if not self._streams[session_id]:
                del self._streams[session_id]

    def publish(self, task: Mapping[str, Any]) -> None:
        """Tell every subscriber about a created or changed task (a full task row)."""
        if not self._queues:
            return
        message = live_view(task, self.links)
        for queue in self._queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        """A queue of task changes for as long as the `with` block lasts."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        """End every subscription (the app is stopping)."""
        for queue in self._queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_CLOSED)

    @staticmethod
    def is_closing(message: dict[str, Any]) -> bool:
        """True for the message `close` sends."""
        return message is _CLOSED


def live_view(task: Mapping[str, Any], links: VideoLinks | None = None) -> dict[str, Any]:
    """What a dashboard may see of a task: the API's view and the prompt, nothing secret, and
    `watch_url`: the kept copy where there is one (it outlives the provider's link), else the
    provider's link."""
    view = task_view(task, links)
    kept = (view.get("video") or {}).get("url")
    return {**view, "prompt": prompt_of(task), "watch_url": kept or view["video_url"]}


def prompt_of(task: Mapping[str, Any]) -> str:
    """The prompt the task was submitted with, or ""."""
    try:
        request = json.loads(task.get("request") or "{}")
    except ValueError:
        return ""
    prompt = request.get("prompt") if isinstance(request, dict) else None
    return prompt if isinstance(prompt, str) else ""
