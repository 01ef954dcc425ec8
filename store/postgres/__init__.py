"""The store on PostgreSQL (asyncpg): many reelhook processes on one database."""

from store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
