"""Real databases for tests: a temporary SQLite file, or a fresh PostgreSQL database.

PostgreSQL is found at REELHOOK_TEST_DATABASE_URL (default: the server this project's machines
run on 127.0.0.1:5432, user postgres, trust auth). Each test gets its own database with a random
name, migrated, and dropped afterwards. Where no server answers, the PostgreSQL tests skip with
the reason; with CI=true they fail instead, so a CI run never passes without them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from store import migrate_database

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
HOW_TO_START = (
    "start one (e.g. `apt install postgresql` then `pg_ctlcluster 15 main start`, or `docker run"
    " -e POSTGRES_HOST_AUTH_METHOD=trust -p 5432:5432 postgres:15`) or point"
    " REELHOOK_TEST_DATABASE_URL at one"
)
_unreachable: list[str] = []


def server_url() -> str:
    """The PostgreSQL server tests use (an existing database to connect to first)."""
    return os.environ.get("REELHOOK_TEST_DATABASE_URL") or DEFAULT_URL


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def admin_connection() -> asyncpg.Connection:
    """A connection to the test server; skips (or, with CI=true, fails) when none answers."""
    url = server_url()
    if not _unreachable:
        try:
            return await asyncpg.connect(url, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            _unreachable.append(f"no PostgreSQL server answers at {url} ({type(exc).__name__})")
    reason = f"{_unreachable[0]}: {HOW_TO_START}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.asynccontextmanager
async def fresh_postgres(*, migrate: bool = True) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database (migrated unless told not to); dropped afterwards."""
    admin = await admin_connection()
    name = f"reelhook_test_{secrets.token_hex(6)}"
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        url = with_database(server_url(), name)
        if migrate:
            await migrate_database(url)
        yield url
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
