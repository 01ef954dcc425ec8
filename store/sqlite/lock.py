"""One `reelhook serve` per SQLite file: an OS lock on `<database>.lock`, held while it runs.

A second instance on the same file (an overlapping deploy, a mistake) must not run start-up
recovery over the first one's work, so it stops before touching the database. The lock is an
flock(2) on a file beside the database: the kernel drops it when the process exits, however it
exits, so a killed instance never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO

from store.errors import DatabaseInUse


def lock_path(database: str) -> str:
    """The lock file of a database file."""
    return f"{database}.lock"


def hold_instance_lock(database: str, owner: str = "") -> tuple[IO[str], str | None]:
    """Take the lock (keep the returned file open for the process's lifetime) for the claim
    owner id `owner`; also returns the owner id the previous holder recorded (that process is
    gone: the kernel dropped its lock), or None. DatabaseInUse when another process holds it,
    OSError when the lock file cannot be made."""
    path = lock_path(database)
    handle = open(path, "a+")  # noqa: SIM115 - held open on purpose until the process ends
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip().partition(" owner ")[0] or "another process"
        handle.close()
        raise DatabaseInUse(
            f"{database} is in use by another reelhook serve ({holder}); one instance per"
            " SQLite file"
        ) from None
    handle.seek(0)
    previous = handle.read().strip().partition(" owner ")[2] or None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} owner {owner}" if owner else f"pid {os.getpid()}")
    handle.flush()
    return handle, previous
