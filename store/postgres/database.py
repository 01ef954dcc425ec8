"""Plans run on a PostgreSQL database through an asyncpg pool: reads and own transactions on
the pool, grouped writes through the group-commit loop (store/postgres/writer.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from store.errors import StoreUnavailable
from store.parts import BatchPlan, PlanOf
from store.postgres import driver
from store.postgres.writer import TIMED_OUT, UNAVAILABLE, PgWriter

T = TypeVar("T")
Work = Callable[[asyncpg.Connection], Awaitable[Any]]


class PostgresDatabase:
    """`store.parts.Database` on PostgreSQL; announcements are NOTIFY, heard by every process."""

    def __init__(
        self, pool: asyncpg.Pool, writer: PgWriter, acquire_timeout: float | None = None
    ) -> None:
        self._pool = pool
        self._writer = writer
        self._acquire_timeout = acquire_timeout  # waiting for a pooled connection

    async def read(self, plan: PlanOf[T]) -> T:
        """A plan that only reads, on a pooled connection."""
        result: T = await self.on_connection(lambda conn: driver.drive(conn, plan()))
        return result

    async def write(self, plan: PlanOf[T]) -> T:
        """A plan in a transaction of its own."""
        try:
            connection = self._pool.acquire(timeout=self._acquire_timeout)
            async with connection as conn, conn.transaction():
                return await driver.drive(conn, plan())
        except TIMED_OUT + UNAVAILABLE as exc:
            raise StoreUnavailable(f"the database cannot be written now: {exc}") from None

    async def write_grouped(self, plan: PlanOf[T]) -> T:
        """A plan in the group-commit loop's next transaction (in a savepoint of its own)."""
        return await self._writer.run(lambda conn: driver.drive(conn, plan()))

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
