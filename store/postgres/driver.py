"""Plans (store/sql.py) run on an asyncpg connection, inside the caller's transaction."""

from __future__ import annotations

from typing import Any, TypeVar

import asyncpg

from store.sql import Announce, Lock, Plan, Query, for_postgres

T = TypeVar("T")
CHANNEL_PREFIX = "reelhook_"


async def drive(
    conn: asyncpg.Connection, plan: Plan[T], announced: list[Announce] | None = None
) -> T:
    """Run every step of `plan` on `conn`; announcements are NOTIFY, heard by every listening
    process when the transaction commits, and added to `announced` for this process's own
    listeners (told once the caller's transaction has committed)."""
    try:
        step = next(plan)
        while True:
            if isinstance(step, Query):
                step = plan.send(await _run(conn, step))
            elif isinstance(step, Announce):
                await announce(conn, step.topic, step.payload)
                if announced is not None:
                    announced.append(step)
                step = plan.send(None)
            elif isinstance(step, Lock):
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", step.key)
                step = plan.send(None)
            else:
                raise TypeError(f"a plan yielded {step!r}")
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def announce(conn: asyncpg.Connection, topic: str, payload: str = "") -> None:
    """NOTIFY every listening process of `topic`; sent when the transaction commits."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL_PREFIX + topic, payload)


async def _run(conn: asyncpg.Connection, query: Query) -> Any:
    sql, names = for_postgres(query.sql)
    if query.mode == "many":
        await conn.executemany(sql, [[p[name] for name in names] for p in query.params])
        return None
    args = [query.params[name] for name in names]
    if query.mode == "count":
        status: str = await conn.execute(sql, *args)
        return int(status.split()[-1])
    if query.mode == "value":
        return await conn.fetchval(sql, *args)
    if query.mode == "row":
        found = await conn.fetchrow(sql, *args)
        return None if found is None else dict(found)
    return [dict(r) for r in await conn.fetch(sql, *args)]
