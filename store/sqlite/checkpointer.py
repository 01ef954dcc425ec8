"""WAL checkpoints off the writer's path: a thread of its own copies committed pages into the
database file, so a commit does not wait for a checkpoint (and its fsync of the file).

The writer's own automatic checkpoint stays as a backstop (store.writer.WAL_CHECKPOINT_PAGES):
with this thread at work it finds nothing, or little, left to copy.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from store.sqlite.connection import connect
from store.sqlite.thread_priority import yield_to_event_loop

log = logging.getLogger("reelhook.store")
# A checkpoint after this many commits: in step with the writes (an idle database is left
# alone), and often enough that the WAL stays small (~20 pages a commit under callback load).
CHECKPOINT_COMMITS = 25


class Checkpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` once every `every` commits (see `committed`) until
    stopped. A passive checkpoint never waits for the writer or for readers: it copies what it
    can."""

    def __init__(self, path: str, every: int = CHECKPOINT_COMMITS) -> None:
        self._path = path
        self._every = every
        self._commits = 0  # counted by the writer's thread only
        self._due = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="reelhook-checkpoint", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def committed(self) -> None:
        """The writer committed once more (called in its thread)."""
        self._commits += 1
        if self._commits >= self._every:
            self._commits = 0
            self._due.set()

    def stop(self) -> None:
        """Stop the thread (blocking, at most one checkpoint long)."""
        self._stopping = True
        self._due.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        yield_to_event_loop()
        try:
            conn = connect(self._path, busy_timeout=0.0)
        except sqlite3.Error as exc:
            log.warning("no background checkpoints for %s: %s", self._path, exc)
            return
        failing = False
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return
                failing = _checkpoint(conn, failing)
        finally:
            conn.close()


def _checkpoint(conn: sqlite3.Connection, failing: bool) -> bool:
    """One passive checkpoint; whether it failed (a failure is logged once, not every time)."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error as exc:
        if not failing:
            log.warning("background checkpoint failed (the writer's own checkpoints go on): %s",
                        exc)
        return True
    return False
