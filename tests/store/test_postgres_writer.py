"""PostgreSQL's group-commit loop keeps two batches under way: a batch held up by PostgreSQL
(a row another session holds) does not hold the writes that come after it, and every write is
still answered only once committed, in a batch of its own kind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from store.postgres.writer import PgWriter
from tests.databases import fresh_postgres
from tests.helpers import until


@pytest.fixture
async def scratch() -> AsyncIterator[str]:
    async with fresh_postgres(migrate=False) as url:
        conn = await asyncpg.connect(url)
        await conn.execute("CREATE TABLE scratch (id INT PRIMARY KEY, v INT NOT NULL)")
        await conn.execute("INSERT INTO scratch VALUES (1, 0), (2, 0)")
        await conn.close()
        yield url


def bump(
    row: int, started: list[int] | None = None
) -> Callable[[asyncpg.Connection], Awaitable[int]]:
    """A write adding one to a row (noting, in `started`, that it began)."""

    async def write(conn: asyncpg.Connection) -> int:
        if started is not None:
            started.append(row)
        return int(await conn.fetchval(
            "UPDATE scratch SET v = v + 1 WHERE id = $1 RETURNING v", row))
    return write


async def test_a_batch_held_up_does_not_hold_the_writes_after_it(scratch: str) -> None:
    pool = await asyncpg.create_pool(scratch, min_size=1, max_size=4)
    writer = PgWriter(pool)
    writer.start()
    other = await asyncpg.connect(scratch)
    started: list[int] = []
    try:
        holding = other.transaction()
        await holding.start()
        await other.execute("UPDATE scratch SET v = v WHERE id = 1")  # row 1 is held
        held = asyncio.ensure_future(writer.run(bump(1, started)))
        await until(lambda: started == [1], what="the first batch to wait for row 1")
        await asyncio.sleep(0.1)  # its UPDATE waits on the lock now
        assert await asyncio.wait_for(writer.run(bump(2)), 5) == 1  # committed meanwhile
        assert not held.done()  # still waiting for row 1: not answered before its commit
        await holding.rollback()
        assert await asyncio.wait_for(held, 5) == 1
        assert await other.fetchval("SELECT sum(v) FROM scratch") == 2
    finally:
        await other.close()
        await writer.stop()
        await pool.close()


async def test_writes_beyond_the_batches_under_way_wait_and_all_commit(scratch: str) -> None:
    pool = await asyncpg.create_pool(scratch, min_size=1, max_size=4)
    writer = PgWriter(pool, max_batch=3)
    writer.start()
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(*(writer.run(bump(1 + n % 2)) for n in range(40))), 30)
        assert sorted(answers) == sorted([*range(1, 21), *range(1, 21)])
    finally:
        await writer.stop()
        await pool.close()
    conn = await asyncpg.connect(scratch)
    try:
        assert await conn.fetchval("SELECT sum(v) FROM scratch") == 40
    finally:
        await conn.close()
