"""Plans (store/sql.py) run on an asyncpg connection, inside the caller's transaction."""

from __future__ import annotations

import secrets
from typing import Any, TypeVar

import asyncpg

from store.sql import Announce, Lock, Plan, Query, for_postgres

T = TypeVar("T")
CHANNEL_PREFIX = "reelhook_"
ORIGIN_LENGTH = 16  # hex digits of the origin a NOTIFY's payload starts with


class OriginConnection(asyncpg.Connection):  # type: ignore[misc]
    """A store's pooled connection, which knows its store's origin: every NOTIFY sent on it
    carries it, so the store knows its own commits when they come back. A server process id
    would not do: ids are used again once a connection closes, and a pooler hides them."""

    __slots__ = ("origin",)


def new_origin() -> str:
    """A store's origin: random, so no two stores (processes) share one."""
    return secrets.token_hex(ORIGIN_LENGTH // 2)


def with_origin(conn: Any, payload: str) -> str:
    """`payload` as NOTIFY carries it from `conn`: behind its store's origin, if it has one."""
    origin = getattr(conn, "origin", None)
    return f"{origin}/{payload}" if origin else payload


def origin_of(sent: str) -> tuple[str | None, str]:
    """The origin and the payload of a NOTIFY's payload (no origin: None and all of it)."""
    origin, slash, payload = sent.partition("/")
    if slash and len(origin) == ORIGIN_LENGTH and all(c in _HEX for c in origin):
        return origin, payload
    return None, sent


_HEX = frozenset("0123456789abcdef")


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
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL_PREFIX + topic,
                       with_origin(conn, payload))


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
