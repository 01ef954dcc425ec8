"""What a callback needs to know about its task, kept in memory once it can no longer change.

A task's provider, callback secret hash and provider task id never change once the provider task
id is known, so they are cached only from then on: a hit is always what the database would say.
Nothing about a task's state is kept here; the writer reads that inside its own transaction.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

FIELDS = ("id", "provider", "callback_secret_hash", "provider_task_id")


class KnownTasks:
    """A bounded map of task id to the unchanging fields callbacks are verified against."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._tasks: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def get(self, task_id: str) -> dict[str, Any] | None:
        """The cached fields of the task, or None when it must be read from the database."""
        return self._tasks.get(task_id)

    def remember(self, task: dict[str, Any]) -> None:
        """Keep the task's fields if they can no longer change; the oldest entry makes room."""
        if not task.get("provider_task_id") or task["id"] in self._tasks:
            return
        self._tasks[task["id"]] = {name: task[name] for name in FIELDS}
        if len(self._tasks) > self._capacity:
            self._tasks.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tasks)
