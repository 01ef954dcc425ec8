"""A start that meets PostgreSQL away for a moment (a restart, a failover, connections ended by
an operator) tries again for a few seconds instead of costing a process manager's restart; a
database that stays away, one that is misconfigured (no such database, a wrong password) or at
the wrong schema version still ends the start."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from store import is_postgres
from store.errors import StoreUnavailable
from store.versions import SchemaMismatch

log = logging.getLogger("reelhook.store")

START_WAIT = 10.0
FIRST_PAUSE = 0.5

T = TypeVar("T")


async def wait_out_outages(database: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()`'s result; on PostgreSQL a StoreUnavailable is tried again, with growing
    pauses, for START_WAIT seconds (a SQLite file is there or not: it is not)."""
    deadline = time.monotonic() + START_WAIT
    pause = FIRST_PAUSE
    while True:
        try:
            return await attempt()
        except SchemaMismatch:
            raise  # only `reelhook migrate` changes that
        except StoreUnavailable as exc:
            late = time.monotonic() + pause > deadline
            if late or not is_postgres(database) or _misconfigured(exc):
                raise
            log.warning("the database failed during the start (%s); trying again in %g s",
                        exc, pause)
        await asyncio.sleep(pause)
        pause *= 2


def _misconfigured(exc: StoreUnavailable) -> bool:
    """A setting, not a moment, keeps the database away: no such database, a wrong password or
    user, a malformed DATABASE_URL. Waiting would not help."""
    import asyncpg  # PostgreSQL only

    refused = (asyncpg.InvalidCatalogNameError, asyncpg.InvalidPasswordError,
               asyncpg.InvalidAuthorizationSpecificationError, ValueError)
    return isinstance(exc.__cause__, refused)
