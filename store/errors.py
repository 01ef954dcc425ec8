"""Errors raised by the store.

StoreError
 ├── StoreUnavailable   the database cannot be written now (locked, full, read-only): retry later
 ├── TaskNotFound       no task with that id
 └── IdempotencyConflict  an Idempotency-Key was reused with a different request
"""


class StoreError(Exception):
    """Base class of every store error."""


class StoreUnavailable(StoreError):
    """The database could not commit; nothing was written."""


class TaskNotFound(StoreError):
    """No task with the given id."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with id {task_id!r}")
        self.task_id = task_id


class IdempotencyConflict(StoreError):
    """The Idempotency-Key was used before with a different request body."""
