"""The store on one SQLite file: a writer thread with group commit, reader threads, the schema's
migrations and the instance lock."""

from store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
