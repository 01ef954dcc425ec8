"""Group commit on PostgreSQL: the writes waiting at one moment share one transaction.

Each write is an async function of a connection. A single loop per process takes every write that
is waiting, runs each in its own savepoint (one failure spoils only itself), commits once, and
only then answers the callers: a caller learns of success only after its work is committed, and a
burst of callbacks costs one commit instead of one each. Up to `commits` batches are under way
at once, each on a connection of its own: while one waits for PostgreSQL (its statements, its
commit), the next is sent, as two processes' batches would be. A batch that meets a deadlock or
a serialization failure (rows shared with another batch) is run again one write per transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import asyncpg

from store.errors import StoreReadOnly, StoreUnavailable

T = TypeVar("T")
Work = Callable[[asyncpg.Connection], Awaitable[Any]]
log = logging.getLogger("reelhook.store")
# Errors of the database or the connection rather than of one write: the whole batch is refused.
# InternalClientError is what asyncpg raises on a connection terminated mid-operation
# ("cannot switch to state 15"); TimeoutError is a command past REELHOOK_DB_TIMEOUT.
UNAVAILABLE = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.InternalClientError,
               asyncpg.PostgresConnectionError, asyncpg.InsufficientResourcesError,
               asyncpg.OperatorInterventionError, asyncpg.ReadOnlySQLTransactionError)
RETRY_ALONE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
# One write past lock_timeout or statement_timeout (a row another session holds): that write
# is refused, busy; the rest of its batch commits.
TIMED_OUT = (asyncpg.LockNotAvailableError, asyncpg.QueryCanceledError)


READ_ONLY_REASON = "the database is read-only (a standby, or default_transaction_read_only on)"


def not_written(exc: BaseException) -> StoreUnavailable:
    """The error a write refused by `exc` (one of UNAVAILABLE) is answered with."""
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return StoreReadOnly(READ_ONLY_REASON)
    return StoreUnavailable(f"the database cannot be written now: {exc}")


class Batched(Protocol):
    """A kind of write that can run many at once: the same outcomes as `run_one` on each in
    turn (store/postgres/event_batch.py)."""

    async def run_one(self, conn: asyncpg.Connection, item: Any) -> Any: ...
    async def run_many(self, conn: asyncpg.Connection, items: list[Any]) -> list[Any]: ...


@dataclass
class _Job:
    fn: Work | None  # None for a job of a Batched kind
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None
    kind: Batched | None = None
    item: Any = None

    async def run_alone(self, conn: asyncpg.Connection) -> Any:
        if self.kind is not None:
            return await self.kind.run_one(conn, self.item)
        assert self.fn is not None
        return await self.fn(conn)


class PgWriter:
    """The group-commit loop of one process."""

    def __init__(
        self, pool: asyncpg.Pool, *, max_batch: int = 256, acquire_timeout: float | None = None,
        commits: int = 2,
    ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._max_batch = max_batch
        self._commits = commits
        self._jobs: list[_Job] = []
        self._ready = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def failure(self) -> str | None:
        """Why the loop stopped while it should run, or None while it is healthy."""
        task = self._loop_task
        if task is None or not task.done() or task.cancelled():
            return None
        return f"the group-commit loop stopped: {task.exception()!r}"

    def start(self) -> None:
        """Start the loop on the running event loop."""
        self._loop_task = asyncio.get_running_loop().create_task(
            self._run(), name="reelhook-pg-writer"
        )

    async def run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run `fn` in the next transaction; return its result once that is committed."""
        result: T = await self._queue(_Job(fn, self._future()))
        return result

    async def run_batched(self, kind: Batched, item: Any) -> Any:
        """`kind.run_one(conn, item)` in the next transaction, run together with the writes of
        the same kind waiting beside it (`kind.run_many`); if that fails, each on its own."""
        return await self._queue(_Job(None, self._future(), kind=kind, item=item))

    def _future(self) -> asyncio.Future[Any]:
        if self._loop_task is None or self._loop_task.done():
            raise StoreUnavailable("the store is closed")
        return asyncio.get_running_loop().create_future()

    async def _queue(self, job: _Job) -> Any:
        self._jobs.append(job)
        self._ready.set()
        return await job.future

    async def stop(self, timeout: float = 10.0) -> None:
        """Commit what is waiting (for `timeout` seconds at most: a database that is gone
        must not hang a shutdown), then stop the loop; what is left is refused."""
        task = self._loop_task
        if task is None:
            return
        deadline = asyncio.get_running_loop().time() + timeout
        while self._jobs and not task.done() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.005)
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("the group-commit loop had stopped: %r", task.exception())
        left, self._jobs = self._jobs, []
        for job in left:
            job.error = StoreUnavailable("the store closed before this write was committed")
        _settle(left)

    async def _run(self) -> None:
        under_way: set[asyncio.Task[None]] = set()
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._jobs:
                    if len(under_way) >= self._commits:  # the writes waiting meanwhile batch up
                        await asyncio.wait(under_way, return_when=asyncio.FIRST_COMPLETED)
                    under_way = _still_under_way(under_way)
                    if len(under_way) >= self._commits:
                        continue
                    batch = self._jobs[: self._max_batch]
                    self._jobs = self._jobs[self._max_batch:]
                    under_way.add(asyncio.create_task(self._commit(batch)))
        finally:
            if under_way:  # the batches under way finish (or are refused): none is left unanswered
                await asyncio.shield(asyncio.gather(*under_way, return_exceptions=True))

    async def _commit(self, batch: list[_Job]) -> None:
        left = batch  # the writes not committed (yet)
        try:
            try:
                await self._in_one_transaction(batch)
            except RETRY_ALONE:
                for index, job in enumerate(batch):
                    left = batch[index:]  # those before are committed: their answers stand
                    job.error = None
                    await self._in_one_transaction([job])
        except UNAVAILABLE + RETRY_ALONE as exc:
            log.error("commit failed, %d writes refused: %s", len(left), type(exc).__name__)
            for job in left:
                job.error = not_written(exc)
        except BaseException as exc:
            for job in left:
                job.error = StoreUnavailable(f"the database cannot be written now: {exc}")
            if not isinstance(exc, Exception):
                _settle(batch)
                raise
        _settle(batch)

    async def _in_one_transaction(self, batch: list[_Job]) -> None:
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn, conn.transaction():
            start = 0
            while start < len(batch):
                end = start + 1
                kind = batch[start].kind
                while kind is not None and end < len(batch) and batch[end].kind is kind:
                    end += 1
                if end - start > 1:
                    await _run_together(conn, batch[start:end])
                else:
                    await _run_in_savepoint(conn, batch[start])
                start = end


async def _run_together(conn: asyncpg.Connection, group: list[_Job]) -> None:
    """Writes of one Batched kind in one savepoint; if that fails (a duplicate, a task that
    is not there, a lock not had in time), each again in a savepoint of its own."""
    kind = group[0].kind
    assert kind is not None
    try:
        async with conn.transaction():
            results = await kind.run_many(conn, [job.item for job in group])
    except UNAVAILABLE + RETRY_ALONE:
        raise
    except Exception:
        for job in group:
            await _run_in_savepoint(conn, job)
        return
    for job, result in zip(group, results, strict=True):
        job.result = result


async def _run_in_savepoint(conn: asyncpg.Connection, job: _Job) -> None:
    try:
        async with conn.transaction():
            job.result = await job.run_alone(conn)
    except TIMED_OUT as exc:
        job.error = StoreUnavailable(f"the database is busy: {exc}")
    except UNAVAILABLE + RETRY_ALONE:
        raise
    except Exception as exc:
        job.error = exc


def _still_under_way(commits: set[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
    """The commits not finished yet; one that ended by raising (it answered its callers first)
    takes the loop down with it, so failure() reports it."""
    for commit in commits:
        if commit.done():
            commit.result()
    return {commit for commit in commits if not commit.done()}


def _settle(batch: list[_Job]) -> None:
    for job in batch:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)
