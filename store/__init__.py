"""Storage for tasks, events and deliveries, on SQLite or PostgreSQL (imports neither receiver
nor dispatcher).

The names below are loaded when first used, so that importing one light part (`store.models`,
`store.states`) does not load both databases' drivers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store.errors import (
        DeliveryBusy,
        DeliveryNotFound,
        DeliveryStopped,
        DestinationNameTaken,
        DestinationNotFound,
        IdempotencyConflict,
        StoreError,
        StoreFull,
        StoreReadOnly,
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

_HOMES: dict[str, str] = {
    "DatabaseTimeouts": "store.models",
    "DeliveryBusy": "store.errors",
    "DeliveryStopped": "store.errors",
    "DeliveryNotFound": "store.errors",
    "DestinationNameTaken": "store.errors",
    "DestinationNotFound": "store.errors",
    "EventIn": "store.models",
    "EventOutcome": "store.models",
    "IdempotencyConflict": "store.errors",
    "InboundStore": "store.interface",
    "KeptCopy": "store.models",
    "NewDestination": "store.models",
    "NewTask": "store.models",
    "Observation": "store.states",
    "OutboxStore": "store.interface",
    "PollScheduleStore": "store.interface",
    "Registration": "store.models",
    "SchemaMismatch": "store.versions",
    "SqliteStore": "store.sqlite",
    "StatsStore": "store.interface",
    "StoreError": "store.errors",
    "StoreFull": "store.errors",
    "StoreReadOnly": "store.errors",
    "StoreUnavailable": "store.errors",
    "SubmitSlotsStore": "store.interface",
    "TaskNotFound": "store.errors",
    "TaskSearch": "store.models",
    "TaskStore": "store.interface",
    "VideoCopyStore": "store.interface",
    "WriterStopped": "store.errors",
    "is_postgres": "store.opening",
    "migrate_database": "store.opening",
    "open_store": "store.opening",
    "schema_state": "store.opening",
}

__all__ = [
    "DatabaseTimeouts",
    "DeliveryBusy",
    "DeliveryNotFound",
    "DeliveryStopped",
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
    "StoreReadOnly",
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


def __getattr__(name: str) -> Any:
    """Load an exported name from its module at first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'store' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
