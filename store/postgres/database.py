"""Plans run on a PostgreSQL database through an asyncpg pool: reads and own transactions on
the pool, grouped writes through the group-commit loop (store/postgres/writer.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from store.announce import Announcer
from store.errors import StoreUnavailable
from store.parts import BatchPlan, PlanOf
from store.postgres import driver
from store.postgres.writer import TIMED_OUT, UNAVAILABLE, PgWriter, not_written
from store.sql import Announce

T = TypeVar("T")
Work = Callable[[asyncpg.Connection], Awaitable[Any]]


class PostgresDatabase:
    """`store.parts.Database` on PostgreSQL. Announcements are NOTIFY, heard by every other
    process, and told to this process's own listeners once their transaction has committed
    (without waiting for the NOTIFY to come back, which a pooler without LISTEN never does)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        writer: PgWriter,
        announcer: Announcer,
        acquire_timeout: float | None = None,
    ) -> None:
        self._pool = pool
        self._writer = writer
        self._announcer = announcer
        self._acquire_timeout = acquire_timeout  # waiting for a pooled connection

    async def read(self, plan: PlanOf[T]) -> T:
        """A plan that only reads, on a pooled connection."""
        result: T = await self.on_connection(lambda conn: driver.drive(conn, plan()))
        return result

    async def write(self, plan: PlanOf[T]) -> T:
        """A plan in a transaction of its own."""
        announced: list[Announce] = []
        try:
            connection = self._pool.acquire(timeout=self._acquire_timeout)
            async with connection as conn, conn.transaction():
                result = await driver.drive(conn, plan(), announced)
        except TIMED_OUT + UNAVAILABLE as exc:
            raise not_written(exc) from None
        self.announce(announced)
        return result

    async def write_grouped(self, plan: PlanOf[T]) -> T:
        """A plan in the group-commit loop's next transaction (in a savepoint of its own)."""
        announced: list[Announce] = []

        async def attempt(conn: asyncpg.Connection) -> T:
            announced.clear()  # a write the loop runs again announces what its last run did
            return await driver.drive(conn, plan(), announced)

        result = await self._writer.run(attempt)
        self.announce(announced)
        return result

    def announce(self, announced: list[Announce]) -> None:
        """Tell this process's listeners what a committed transaction announced."""
        for step in announced:
            self._announcer.announce(step.topic, step.payload)

    async def write_batched(self, batch: BatchPlan, item: Any) -> Any:
        """`batch([item])`'s result, in a transaction of its own."""
        results = await self.write(lambda: batch([item]))
        return results[0]

    async def on_connection(self, work: Work) -> Any:
        """`work` on a pooled connection, outside any transaction."""
        try:
            async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                return await work(conn)
        except TIMED_OUT + UNAVAILABLE as exc:
            raise StoreUnavailable(f"the database cannot be read now: {exc}") from None
