"""The store on one SQLite file: a writer thread with group commit, reader threads, the schema's
migrations and the instance lock. What `reelhook serve` does to a file before it opens the store
(take its lock, upgrade it, end a gone process's claims) is named here, not in the modules."""

from store.sqlite.lock import hold_instance_lock, lock_path
from store.sqlite.schema import applied_migrations, migrate
from store.sqlite.store import SqliteStore, end_claims_of

__all__ = [
    "SqliteStore",
    "applied_migrations",
    "end_claims_of",
    "hold_instance_lock",
    "lock_path",
    "migrate",
]
