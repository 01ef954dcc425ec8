"""One thread owns the write connection and commits work in groups.

Callers hand it a function of a connection; the thread runs every function that is waiting inside
one transaction, commits once, and only then resolves the callers' futures. A caller therefore
learns of success only after its work is on disk, and a burst of writes costs one fsync instead of
one each. Jobs of one `Batched` kind that wait next to each other run together (a few executemany
statements for all of them). If any job of a batch fails, the transaction is rolled back and the
batch runs again job by job, each in its own savepoint, so one failure spoils only itself; a
savepoint per job costs more than the job, so that is only done when needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from store.errors import StoreFull, StoreUnavailable, WriterStopped
from store.sqlite.checkpointer import Checkpointer
from store.sqlite.connection import connect
from store.sqlite.thread_priority import yield_to_event_loop

T = TypeVar("T")
log = logging.getLogger("reelhook.store")

_STOP = object()
WAL_CHECKPOINT_PAGES = 10_000


class Batched(Protocol):
    """A kind of job that can run many at once: same outcomes as `run_one` on each in turn."""

    def run_one(self, conn: sqlite3.Connection, item: Any) -> Any:
        """One job; raises to fail only this job."""

    def run_many(self, conn: sqlite3.Connection, items: list[Any]) -> list[Any]:
        """Every job, in order; raises when the batch must be run again job by job."""


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any] | None  # None for a job of a Batched kind
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    kind: Batched | None = None
    item: Any = None
    result: Any = None
    error: BaseException | None = None

    def run_alone(self, conn: sqlite3.Connection) -> Any:
        """This job on its own."""
        if self.kind is not None:
            return self.kind.run_one(conn, self.item)
        assert self.fn is not None
        return self.fn(conn)


class Writer:
    """The single writer thread of one database file.

    If the thread dies (or cannot open the file), every waiting and later write fails at once
    with WriterStopped, and `failure` says why: nothing waits forever for a thread that is gone.
    """

    def __init__(
        self,
        path: str,
        *,
        max_batch: int = 512,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
    ) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._max_batch = max_batch
        self._synchronous = synchronous
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="reelhook-writer", daemon=True)
        # Called (in this thread) with the size of every batch it commits: /metrics.
        self.on_commit: Callable[[int], None] = _ignore_size
        self._lock = threading.Lock()  # orders a hand-over against the thread's death
        self._opened = threading.Event()
        self._failure: str | None = None
        self._checkpointer = Checkpointer(path)

    @property
    def failure(self) -> str | None:
        """Why writes fail from now on (the thread died or was stopped); None while it runs."""
        return self._failure

    def start(self) -> None:
        """Start the thread and wait until it has opened its connection (blocking: call it off
        the event loop); WriterStopped when the database cannot be opened."""
        self._thread.start()
        self._opened.wait()
        if self._failure is not None:
            raise WriterStopped(self._failure)
        self._checkpointer.start()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in the next transaction and return its result once that is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._failure is not None:
                raise WriterStopped(self._failure)
            self._jobs.put(_Job(fn, future, loop))
        return await future

    async def run_batched(self, kind: Batched, item: Any) -> Any:
        """`kind.run_one(conn, item)` in the next transaction, run together with the jobs of the
        same kind next to it; its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self._failure is not None:
                raise WriterStopped(self._failure)
            self._jobs.put(_Job(None, future, loop, kind, item))
        return await future

    def waiting(self) -> int:
        """How many writes are handed over and not yet taken into a transaction (approximate)."""
        return self._jobs.qsize()

    def stop(self) -> None:
        """Finish every job already handed over, then close the connection."""
        self._checkpointer.stop()
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        yield_to_event_loop()
        try:
            conn = self._connect()
        except Exception as exc:
            self._stop_taking(f"the database writer cannot open {self._path}: {exc}")
            return
        finally:
            self._opened.set()
        batch: list[_Job] = []
        try:
            while True:
                batch, stopping = self._take_batch()
                if batch:
                    self._commit_batch(conn, batch)
                batch = []
                if stopping:
                    self._stop_taking("the store is closed")
                    return
        except BaseException as exc:  # a dead writer must fail loudly, never leave callers hanging
            log.critical("the database writer died; every write fails from now on", exc_info=True)
            reason = f"the database writer died: {type(exc).__name__}: {exc}"
            self._stop_taking(reason, batch)
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = connect(self._path, busy_timeout=self._busy_timeout)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        # The checkpointer thread copies the WAL into the file; this thread checkpoints only past
        # ~40 MB of WAL (SQLite's default is ~4 MB), a backstop should that thread fall behind.
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        return conn

    def _stop_taking(self, reason: str, unfinished: list[_Job] | None = None) -> None:
        """Refuse every job from now on, and fail the ones still waiting (and `unfinished`)."""
        with self._lock:
            self._failure = reason
            waiting = list(unfinished or [])
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not _STOP:
                    waiting.append(job)
        for job in waiting:
            job.error = WriterStopped(reason)
        _resolve(waiting)

    def _take_batch(self) -> tuple[list[_Job], bool]:
        first = self._jobs.get()
        if first is _STOP:
            return [], True
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return batch, True
            batch.append(job)
        return batch, False

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        self.on_commit(len(batch))
        try:
            conn.execute("BEGIN IMMEDIATE")
            if not _run_together(conn, batch):
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                for job in batch:
                    _run_in_savepoint(conn, job)
            conn.execute("COMMIT")
            self._checkpointer.committed()
        except sqlite3.Error as exc:
            full = _is_full(exc)
            log.error("commit failed, %d writes refused: %s%s", len(batch),
                      "disk full: " if full else "", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                job.error = (
                    StoreFull(f"the disk holding the database is full: {exc}") if full
                    else StoreUnavailable(f"the database cannot be written now: {exc}")
                )
        _resolve(batch)


def _is_full(exc: sqlite3.Error) -> bool:
    """SQLITE_FULL: the disk (or the file's size limit) has no room for the commit."""
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "is full" in str(exc)


def _ignore_size(size: int) -> None:
    return None


def _run_together(conn: sqlite3.Connection, batch: list[_Job]) -> bool:
    """Run the batch with no savepoints, each run of same-kind jobs at once; False when a job
    failed (then nothing of it counts: the caller rolls back and runs the jobs one by one)."""
    try:
        start = 0
        while start < len(batch):
            kind = batch[start].kind
            if kind is None:
                batch[start].result = batch[start].run_alone(conn)
                start += 1
                continue
            end = start + 1
            while end < len(batch) and batch[end].kind is kind:
                end += 1
            group = batch[start:end]
            for job, result in zip(group, kind.run_many(conn, [j.item for j in group]),
                                   strict=True):
                job.result = result
            start = end
    except sqlite3.OperationalError:
        raise  # locked, full or read-only: the whole batch is refused
    except Exception:
        for job in batch:
            job.result = None
        return False
    return True


def _run_in_savepoint(conn: sqlite3.Connection, job: _Job) -> None:
    conn.execute("SAVEPOINT job")
    try:
        job.result = job.run_alone(conn)
    except sqlite3.OperationalError:
        raise  # locked, full or read-only: the whole batch is refused
    except Exception as exc:
        conn.execute("ROLLBACK TO job")
        job.error = exc
    conn.execute("RELEASE job")


def _resolve(batch: list[_Job]) -> None:
    """Settle every future of the batch with one wake-up per event loop, not one per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in batch:
        by_loop.setdefault(job.loop, []).append(job)
    for loop, jobs in by_loop.items():
        # The caller's loop may be closed already; then nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, jobs)


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)
