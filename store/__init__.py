"""SQLite storage for tasks, events and deliveries (imports neither receiver nor dispatcher)."""

from store.errors import (
    DeliveryBusy,
    DeliveryNotFound,
    IdempotencyConflict,
    StoreError,
    StoreFull,
    StoreUnavailable,
    TaskNotFound,
    WriterStopped,
)
from store.models import EventIn, EventOutcome, NewDestination, NewTask
from store.states import Observation
from store.store import Store

__all__ = [
    "DeliveryBusy",
    "DeliveryNotFound",
    "EventIn",
    "EventOutcome",
    "IdempotencyConflict",
    "NewDestination",
    "NewTask",
    "Observation",
    "Store",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "TaskNotFound",
    "WriterStopped",
]
