"""What a callback needs to know about its task, kept in memory once it can no longer change.

A task's provider, callback secret hash and provider task id never change once the provider task
id is known, so they are cached only from then on: a hit is always what the database would say.
Nothing about a task's state is kept here; the writer reads that inside its own transaction.

Each entry also keeps the callback secret that was last verified against the stored hash, so the
provider's next callbacks are checked with one constant-time comparison instead of two HMACs. It
lives only in this process's memory (which holds REELHOOK_SECRET_KEY, from which every callback
secret can be re-derived anyway), never in the database or a log.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from hmac import compare_digest
from typing import Any

FIELDS = ("id", "provider", "callback_secret_hash", "provider_task_id")


class KnownTasks:
    """A bounded map of task id to the unchanging fields callbacks are verified against."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._tasks: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._existence: OrderedDict[str, bool] = OrderedDict()  # see note_existence

    def get(self, task_id: str) -> Mapping[str, Any] | None:
        """The cached fields of the task, or None when it must be read from the database."""
        return self._tasks.get(task_id)

    def vouched(self, task_id: str, presented: str | None) -> Mapping[str, Any] | None:
        """The cached fields when `presented` is the secret already verified for this task
        (compared in constant time); None when it must be verified in full."""
        task = self._tasks.get(task_id)
        if task is None or not presented or not presented.isascii():
            return None
        verified = task["verified_secret"]
        if verified is None or not compare_digest(presented, verified):
            return None
        return task

    def remember(self, task: Mapping[str, Any], verified_secret: str | None = None) -> None:
        """Keep the task's fields if they can no longer change, with the secret just verified
        against its stored hash; the oldest entry makes room."""
        if not task.get("provider_task_id"):
            return
        known = self._tasks.get(task["id"])
        if known is not None:
            if verified_secret is not None:
                known["verified_secret"] = verified_secret
            return
        self._tasks[task["id"]] = {name: task[name] for name in FIELDS} | {
            "verified_secret": verified_secret
        }
        if len(self._tasks) > self._capacity:
            self._tasks.popitem(last=False)

    def exists(self, task_id: str) -> bool | None:
        """Whether the task exists, when known here (None: ask the database)."""
        if task_id in self._tasks:
            return True
        return self._existence.get(task_id)

    def note_existence(self, task_id: str, exists: bool) -> None:
        """Remember whether the task exists (bounded; the oldest answer makes room). Both
        answers last: tasks are never deleted, and a task id that is not there now never will
        be (ids are random, and a task is recorded before any provider hears of it)."""
        self._existence[task_id] = exists
        if len(self._existence) > self._capacity:
            self._existence.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tasks)
