"""Errors raised by the store.

StoreError
 ├── StoreUnavailable   the database cannot be written now (locked, full, read-only): retry later
 │    ├── StoreFull      the disk (or file) holding the database is full
 │    ├── StoreReadOnly  PostgreSQL takes no writes (a standby, default_transaction_read_only)
 │    ├── WriterStopped  the writer thread is gone (died, could not open the file, or closed)
 │    └── SchemaMismatch the database is behind or ahead of this reelhook (store/versions.py)
 ├── SchemaTooNew       the file was written by a newer reelhook; this code must not touch it
 ├── DatabaseInUse      another `reelhook serve` holds this SQLite file
 ├── TaskNotFound       no task with that id
 ├── IdempotencyConflict  an Idempotency-Key was reused with a different request
 ├── DeliveryNotFound   no delivery with that id
 ├── DeliveryBusy       the delivery is still pending or being sent: it cannot be sent again now
 ├── DeliveryStopped    the delivery's destination is paused or deleted: nothing would be sent
 ├── DestinationNotFound  no registered destination with that id
 └── DestinationNameTaken another registered destination has that name
"""


class StoreError(Exception):
    """Base class of every store error."""


class StoreUnavailable(StoreError):
    """The database could not commit; nothing was written."""


class StoreFull(StoreUnavailable):
    """The disk holding the database is full; nothing was written."""


class StoreReadOnly(StoreUnavailable):
    """The database takes no writes (a standby, or a read-only setting); nothing was written."""


class SchemaTooNew(StoreError):
    """The database has migrations this code does not know: it belongs to a newer version."""


class DatabaseInUse(StoreError):
    """Another process holds the instance lock of this database file."""


class WriterStopped(StoreUnavailable):
    """The writer thread is gone; no write will succeed until the process restarts."""


class TaskNotFound(StoreError):
    """No task with the given id."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with id {task_id!r}")
        self.task_id = task_id


class IdempotencyConflict(StoreError):
    """The Idempotency-Key was used before with a different request body."""


class DeliveryNotFound(StoreError):
    """No delivery with the given id."""

    def __init__(self, delivery_id: int) -> None:
        super().__init__(f"no delivery with id {delivery_id}")
        self.delivery_id = delivery_id


class DeliveryBusy(StoreError):
    """The delivery is pending or in flight; only delivered or dead ones can be sent again."""


class DeliveryStopped(StoreError):
    """The delivery's registered destination is paused or deleted: sent again now, it would only
    end dead again, so it is not."""


class DestinationNotFound(StoreError):
    """No registered destination with the given id."""

    def __init__(self, destination_id: int) -> None:
        super().__init__(f"no destination with id {destination_id}")
        self.destination_id = destination_id


class DestinationNameTaken(StoreError):
    """Another registered destination already has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a destination named {name!r} exists already")
        self.name = name
