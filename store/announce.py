"""Who hears about a commit: listeners by topic, and what one event's outcome announces."""

from __future__ import annotations

import logging
from collections.abc import Callable

from store.interface import DELIVERIES, SLOTS, TASKS, TOPICS, Listener
from store.models import EventOutcome

log = logging.getLogger("reelhook.store")


class Announcer:
    """Listeners by topic; each is called with the payload, errors logged and contained."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {topic: [] for topic in TOPICS}

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns the function that removes it."""
        if topic not in self._listeners:
            raise ValueError(f"unknown topic {topic!r}; one of {', '.join(TOPICS)}")
        self._listeners[topic].append(listener)
        return lambda: self._remove(topic, listener)

    def announce(self, topic: str, payload: str = "") -> None:
        """Call every listener of the topic."""
        for listener in list(self._listeners.get(topic, ())):
            try:
                listener(payload)
            except Exception:
                log.exception("a %s listener failed", topic)

    def _remove(self, topic: str, listener: Listener) -> None:
        if listener in self._listeners[topic]:
            self._listeners[topic].remove(listener)


def topics_of(outcome: EventOutcome) -> list[tuple[str, str]]:
    """The (topic, payload) pairs an event's outcome announces."""
    found = [(TASKS, str(outcome.task["id"]))] if outcome.changed else []
    if outcome.notices_queued:
        found.append((DELIVERIES, ""))
    if outcome.slot_freed:
        found.append((SLOTS, ""))
    return found
