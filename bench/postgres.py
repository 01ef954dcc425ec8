"""PostgreSQL for the bench: a fresh database per measurement, what a run stored there, and the
CPU its server's backends spent.

PostgreSQL is the server at REELHOOK_BENCH_DATABASE_URL (default: postgresql://postgres@
127.0.0.1:5432/test); each measurement gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.procs import pid_cpu_seconds
from store import migrate_database

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
# Per stored callback: its timestamp (unique per request) and the echoed secret as stored.
STORED_CALLBACKS = (
    "SELECT payload::jsonb ->> 'timestamp',"
    " payload::jsonb #>> '{data,config,webhook_config,secret}'"
    " FROM events WHERE source = 'callback'"
)


@contextlib.asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A new, migrated PostgreSQL database, dropped afterwards."""
    server = os.environ.get("REELHOOK_BENCH_DATABASE_URL") or DEFAULT_URL
    admin = await asyncpg.connect(server)
    name = f"reelhook_bench_{secrets.token_hex(5)}"
    parts = urlsplit(server)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        await migrate_database(url)
        yield url
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def stored_callbacks(url: str) -> list[tuple[str | None, str | None]]:
    """Every callback stored in the database at `url`: (timestamp, echoed secret as stored)."""
    conn = await asyncpg.connect(url)
    try:
        return [(row[0], row[1]) for row in await conn.fetch(STORED_CALLBACKS)]
    finally:
        await conn.close()


async def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each server backend connected to the database at `url` (read from
    /proc: empty figures when the server runs elsewhere); the server's shared processes (WAL
    writer, checkpointer) are not counted."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {int(row["pid"]): _postgres_cpu(int(row["pid"])) for row in rows}


def _postgres_cpu(pid: int) -> float:
    """The CPU seconds of `pid` if this machine's process of that id is a postgres one."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return 0.0
    return pid_cpu_seconds(pid) if name == "postgres" else 0.0


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the backends spent between two readings (a backend started in between
    counts whole; one gone in between is lost)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
