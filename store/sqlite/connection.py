"""A connection to a SQLite file, with the pragmas every reelhook connection uses."""

from __future__ import annotations

import contextlib
import os
import sqlite3


def connect(path: str, *, read_only: bool = False, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """Open a connection with the pragmas every reelhook connection uses; a new file is
    created readable by its owner only (it holds sealed secrets and people's prompts)."""
    if path != ":memory:" and not path.startswith("file:") and not os.path.exists(path):
        with contextlib.suppress(FileExistsError):  # another process created it meanwhile
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
    )
    conn.row_factory = sqlite3.Row
    conn.create_function("unicode_lower", 1, _lower, deterministic=True)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    return conn


def _lower(value: str | bytes | int | float | None) -> str | bytes | int | float | None:
    """LOWER for every script (SQLite's folds ASCII only), as PostgreSQL's and Python's do."""
    return value.lower() if isinstance(value, str) else value
