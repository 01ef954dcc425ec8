"""The PostgreSQL store (asyncpg): many reelhook processes on one database."""

from store.postgres.store import PgStore

__all__ = ["PgStore"]
