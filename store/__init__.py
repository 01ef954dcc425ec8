"""Storage for tasks, events and deliveries, on SQLite or PostgreSQL (imports neither receiver
nor dispatcher)."""

from store.errors import (
    DeliveryBusy,
    DeliveryNotFound,
    DestinationNameTaken,
    DestinationNotFound,
    IdempotencyConflict,
    StoreError,
    StoreFull,
    StoreUnavailable,
    TaskNotFound,
    WriterStopped,
)
from store.interface import (
    InboundStore,
    OutboxStore,
    PollScheduleStore,
    StatsStore,
    SubmitSlotsStore,
    TaskStore,
    VideoCopyStore,
)
from store.models import (
    DatabaseTimeouts,
    EventIn,
    EventOutcome,
    KeptCopy,
    NewDestination,
    NewTask,
    Registration,
    TaskSearch,
)
from store.opening import is_postgres, migrate_database, open_store, schema_state
from store.sqlite import SqliteStore
from store.states import Observation
from store.versions import SchemaMismatch

__all__ = [
    "DatabaseTimeouts",
    "DeliveryBusy",
    "DeliveryNotFound",
    "DestinationNameTaken",
    "DestinationNotFound",
    "EventIn",
    "EventOutcome",
    "IdempotencyConflict",
    "InboundStore",
    "KeptCopy",
    "NewDestination",
    "NewTask",
    "Observation",
    "OutboxStore",
    "PollScheduleStore",
    "Registration",
    "SchemaMismatch",
    "SqliteStore",
    "StatsStore",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "SubmitSlotsStore",
    "TaskNotFound",
    "TaskSearch",
    "TaskStore",
    "VideoCopyStore",
    "WriterStopped",
    "is_postgres",
    "migrate_database",
    "open_store",
    "schema_state",
]
