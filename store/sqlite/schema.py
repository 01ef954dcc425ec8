"""The SQLite schema: the one history of store/migrations.py, its steps in SQLite's dialect in
store/sqlite/migration_steps.py, recorded in the database itself.

A file made by any earlier version upgrades in place when it is opened: `migrate` applies
whatever migrations it has not seen yet, in order. A file that is up to date (every start after
the first) is known as such from its record alone, without importing the steps and sqlite-utils
(~30 ms of every start).
"""

from __future__ import annotations

import os
import sqlite3

from store.migrations import MIGRATION_NAMES
from store.sqlite.connection import connect

# Where sqlite-utils' Migrations records what it applied. Read here only to find a file that
# has nothing to apply; anything else (another layout included) goes to the steps, which decide.
RECORDS = "SELECT name FROM _sqlite_migrations WHERE migration_set = 'reelhook' ORDER BY id"


def applied_migrations(path: str) -> list[str] | None:
    """The names of the migrations recorded in the file; None when there is no file yet."""
    if path != ":memory:" and not os.path.exists(path):
        return None
    recorded = _recorded(path)
    if recorded is not None and set(recorded) == set(MIGRATION_NAMES):
        return recorded
    from store.sqlite import migration_steps

    return migration_steps.applied_migrations(path)


def migrate(path: str, *, stop_before: str | None = None) -> list[str]:
    """Bring the file at `path` up to the current schema; return the names applied now."""
    if stop_before is None and _is_current(path):
        return []
    from store.sqlite import migration_steps

    return migration_steps.migrate(path, stop_before=stop_before)


def _is_current(path: str) -> bool:
    """Whether the file records exactly this code's migrations, in WAL mode already."""
    if path == ":memory:" or path.startswith("file:") or not os.path.exists(path):
        return False
    recorded = _recorded(path)
    return recorded is not None and set(recorded) == set(MIGRATION_NAMES)


def _recorded(path: str) -> list[str] | None:
    """The migration names the file records, or None when that cannot be read plainly."""
    try:
        conn = connect(path, read_only=True)
    except sqlite3.Error:
        return None
    try:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            return None
        return [row[0] for row in conn.execute(RECORDS)]
    except sqlite3.Error:
        return None
    finally:
        conn.close()
