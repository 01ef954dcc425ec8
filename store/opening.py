"""Which database a setting names, and opening, checking and migrating it.

A `postgres://` or `postgresql://` URL is PostgreSQL; anything else is the path of a SQLite file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit

from store.errors import StoreUnavailable
from store.interface import TaskStore
from store.migrations import MIGRATION_NAMES
from store.models import DEFAULT_TIMEOUTS, DatabaseTimeouts
from store.rows import TaskRow
from store.states import DEFAULT_NOTIFY_ON
from store.versions import SchemaState, state_of

CONNECT_TIMEOUT = 10.0  # seconds to reach PostgreSQL for a schema check or `migrate`

POSTGRES_SCHEMES = ("postgres://", "postgresql://")


def is_postgres(database: str) -> bool:
    """True when `database` is a PostgreSQL URL rather than a SQLite path."""
    return database.startswith(POSTGRES_SCHEMES)


async def open_store(
    database: str,
    *,
    notify_on: frozenset[str] = DEFAULT_NOTIFY_ON,
    busy_timeout: float = 5.0,
    pool_size: int = 10,
    migrate: bool = True,
    on_other_change: Callable[[TaskRow], None] | None = None,
    video_wait: float | None = None,
    timeouts: DatabaseTimeouts = DEFAULT_TIMEOUTS,
    direct: str | None = None,
) -> TaskStore:
    """Open the store `database` names. With `migrate` False the schema must already match
    (SchemaMismatch otherwise); a new SQLite file is always created and migrated.
    `on_other_change` is told of tasks other processes changed (PostgreSQL; a SQLite file has one
    process). With `video_wait` (seconds) succeeded tasks have their video copies queued and their
    notices wait that long at most for them; None keeps links only. `timeouts` bound every
    PostgreSQL connection; `direct` (DIRECT_DATABASE_URL) is a direct connection to the server
    when `database` leads to a transaction pooler."""
    if is_postgres(database):
        from store.postgres import PostgresStore

        if not migrate:
            (await schema_state(database)).check()
        return await PostgresStore.open(
            database, notify_on=notify_on, pool_size=pool_size, migrate=migrate,
            on_other_change=on_other_change, video_wait=video_wait, timeouts=timeouts,
            direct_url=direct,
        )
    from store.sqlite import SqliteStore

    if not migrate:
        state = await schema_state(database)
        if state.applied:
            state.check()
    return await SqliteStore.open(
        database, notify_on=notify_on, busy_timeout=busy_timeout, video_wait=video_wait
    )


async def schema_state(database: str) -> SchemaState:
    """The migrations the database has against those this reelhook knows; StoreUnavailable, in
    one line, when the database cannot be opened."""
    try:
        return await _schema_state(database)
    except StoreUnavailable:
        raise
    except TimeoutError:
        raise StoreUnavailable(
            f"cannot open the database {shown(database)}: it did not answer within"
            f" {CONNECT_TIMEOUT:.0f} s"
        ) from None
    except Exception as exc:  # sqlite3, asyncpg and OS errors alike: the start must say why, once
        raise StoreUnavailable(f"cannot open the database {shown(database)}: {exc}") from exc


def shown(database: str) -> str:
    """The database as it may be shown: a URL without its password."""
    if not is_postgres(database):
        return database
    parts = urlsplit(database)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


async def _schema_state(database: str) -> SchemaState:
    if is_postgres(database):
        import asyncpg

        from store.postgres.schema import applied_migrations as pg_applied

        # No prepared statements kept: through a transaction pooler (PgBouncer) each statement
        # may reach another server session.
        conn = await asyncpg.connect(database, timeout=CONNECT_TIMEOUT, statement_cache_size=0)
        try:
            return state_of(await pg_applied(conn), MIGRATION_NAMES)
        finally:
            await conn.close()
    from store.sqlite.schema import applied_migrations

    applied = await asyncio.to_thread(applied_migrations, database)
    return state_of(applied or [], MIGRATION_NAMES)


async def migrate_database(database: str) -> list[str]:
    """Apply every pending migration; return the names applied now."""
    if is_postgres(database):
        import asyncpg

        from store.postgres.schema import migrate as migrate_pg

        conn = await asyncpg.connect(database, timeout=CONNECT_TIMEOUT, statement_cache_size=0)
        try:
            return await migrate_pg(conn)
        finally:
            await conn.close()
    from store.sqlite.schema import migrate as migrate_sqlite

    return await asyncio.to_thread(migrate_sqlite, database)
