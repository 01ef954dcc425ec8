"""The PostgreSQL store: the same interface as the SQLite one, for many processes on one database.

An asyncpg pool (sized by REELHOOK_DB_POOL_SIZE) serves reads and short transactions; the group
commit loop (writer.py) takes task and event writes; one more connection LISTENs for the
announcements every process makes on commit (notices queued, slot freed, task changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from store.announce import Announcer, topics_of
from store.errors import StoreUnavailable
from store.interface import TASKS, TOPICS
from store.models import DEFAULT_TIMEOUTS, DatabaseTimeouts, EventIn, EventOutcome
from store.plans import tasks
from store.postgres import schema
from store.postgres.database import PostgresDatabase
from store.postgres.driver import CHANNEL_PREFIX, OriginConnection, new_origin, origin_of
from store.postgres.event_batch import PgRecordEvents
from store.postgres.types import use_store_types
from store.postgres.writer import READ_ONLY_REASON, UNAVAILABLE, PgWriter
from store.records import Records
from store.rows import TaskRow
from store.sql import Announce
from store.states import DEFAULT_NOTIFY_ON

log = logging.getLogger("reelhook.store")
FEED_DELAY = 0.05  # seconds the change feed gathers announcements before it reads the tasks
CONNECT_TIMEOUT = 10.0  # seconds to open the LISTEN connection
HEALTH_TIMEOUT = 2.0  # seconds the health check waits for the server's answer
CLOSE_TIMEOUT = 10.0  # seconds closing waits for connections to say goodbye before cutting them
POOLER_FOUND = (
    "DATABASE_URL leads to a connection pooler (it refused session settings, or its sessions"
    " are not the server's own): prepared"
    " statements are off and LISTEN is not used, so other processes' work is seen on each"
    " worker's interval; set DIRECT_DATABASE_URL to a direct connection for instant wake-ups"
)
READ_ONLY = "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"


class PostgresStore(Records):
    """One PostgreSQL database shared by any number of reelhook processes."""

    def __init__(
        self,
        url: str,
        pool: asyncpg.Pool,
        notify_on: frozenset[str],
        *,
        origin: str | None = None,
        on_other_change: Callable[[TaskRow], None] | None = None,
        video_wait: float | None = None,
        acquire_timeout: float | None = None,
    ) -> None:
        self.url = url
        self._pool = pool
        self.writer = PgWriter(pool, acquire_timeout=acquire_timeout)
        announcer = Announcer()
        self._postgres = PostgresDatabase(pool, self.writer, announcer, acquire_timeout)
        super().__init__(self._postgres, notify_on, announcer, video_wait)
        self._events = PgRecordEvents(notify_on, video_wait)
        # Told of every task created or changed by another process, after its commit (LISTEN):
        # this process's own changes reach the same place through its task service.
        self.on_task_change: Callable[[TaskRow], None] = on_other_change or _ignore
        self._origin = origin or new_origin()  # what this store's NOTIFYs carry
        self._changed: set[str] = set()
        self._feeder: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._listen_url: str | None = url  # a direct connection (LISTEN needs a session)
        self._closing = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        notify_on: frozenset[str] = DEFAULT_NOTIFY_ON,
        pool_size: int = 10,
        migrate: bool = True,
        listen: bool = True,
        on_other_change: Callable[[TaskRow], None] | None = None,
        video_wait: float | None = None,
        timeouts: DatabaseTimeouts = DEFAULT_TIMEOUTS,
        direct_url: str | None = None,
    ) -> PostgresStore:
        """Connect (and with `migrate` bring the schema up to date), start group commit and the
        listener connection. With `direct_url`, `url` leads to a transaction pooler (PgBouncer):
        its connections use no prepared statements and no session settings, and LISTEN runs on
        `direct_url`. A pooler found without it (it refuses session settings) is used the same
        way, with no LISTEN: other processes' commits are then found on the workers' own interval
        (this process's own still reach its listeners as they commit)."""
        origin = new_origin()

        async def remember(conn: OriginConnection) -> None:
            conn.origin = origin
            await use_store_types(conn)

        pooled = direct_url is not None
        try:
            pool: asyncpg.Pool | None = None
            try:
                pool = await _pool(url, pool_size, remember, timeouts, pooled=pooled)
            except asyncpg.ProtocolViolationError as exc:
                if pooled or "startup parameter" not in str(exc):
                    raise
            if pool is not None and not pooled and await _behind_a_pooler(pool):
                await pool.close()
                pool = None
            if pool is None:
                log.warning(POOLER_FOUND)
                pooled = True
                pool = await _pool(url, pool_size, remember, timeouts, pooled=True)
        except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from None
        store = cls(
            url, pool, notify_on, origin=origin, on_other_change=on_other_change,
            video_wait=video_wait, acquire_timeout=timeouts.statement,
        )
        store._listen_url = direct_url or (None if pooled else url)
        try:
            if migrate:
                async with pool.acquire() as conn:
                    await schema.migrate(conn)
            store.writer.start()
            if listen and store._listen_url is not None:
                await store._listen()
        except (*UNAVAILABLE, asyncpg.PostgresError) as exc:  # lost while it started
            await store.close()
            raise StoreUnavailable(f"PostgreSQL was lost while the store opened: {exc}") from exc
        return store

    async def close(self) -> None:
        """Commit what is queued, then close every connection."""
        self._closing = True
        for job in (self._feeder, self._reconnecting):
            if job is not None:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
        await self.writer.stop()
        if self._listener is not None:
            await _within(CLOSE_TIMEOUT, self._listener.close(), self._listener.terminate)
        # A connection cut mid-query may never be released: waiting for it would hang shutdown.
        await _within(CLOSE_TIMEOUT, self._pool.close(), self._pool.terminate)

    async def reclaim_space(self) -> None:
        """Nothing: PostgreSQL's autovacuum reuses the space deletes free."""

    def failure(self) -> str | None:
        """Why the store can no longer write (its group-commit loop died), or None."""
        return self.writer.failure()

    async def trouble(self) -> str | None:
        """Why the database cannot serve now, asked of it: the group-commit loop died, the
        server does not answer within HEALTH_TIMEOUT, or it takes no writes (a standby, or
        read-only by setting); None while it answers and takes writes."""
        if (failure := self.failure()) is not None:
            return failure
        try:
            read_only = await self._postgres.on_connection(
                lambda conn: conn.fetchval(READ_ONLY, timeout=HEALTH_TIMEOUT)
            )
        except StoreUnavailable as exc:
            return f"the database does not answer: {exc}"
        if read_only:
            return READ_ONLY_REASON
        return None

    async def record_event(self, task_id: str, event: EventIn) -> EventOutcome:
        """Record an event once and apply it to the task, with its notices, in one commit.

        Events waiting together are recorded together (store/postgres/event_batch.py)."""
        outcome: EventOutcome = await self.writer.run_batched(self._events, (task_id, event))
        self._postgres.announce([Announce(topic, payload) for topic, payload in topics_of(outcome)])
        return outcome

    async def _listen(self) -> None:
        listener = await asyncpg.connect(self._listen_url or self.url, timeout=CONNECT_TIMEOUT)
        try:
            for topic in TOPICS:
                await listener.add_listener(CHANNEL_PREFIX + topic, self._heard)
        except BaseException:
            listener.terminate()
            raise
        listener.add_termination_listener(self._lost)
        self._listener = listener

    @property
    def origin(self) -> str:
        """What this store's NOTIFYs carry, so it knows its own when they come back."""
        return self._origin

    def _heard(self, conn: Any, pid: int, channel: str, sent: str) -> None:
        origin, payload = origin_of(sent)
        if origin == self._origin:
            return  # this store's own commit: its listeners were told when it committed
        topic = channel.removeprefix(CHANNEL_PREFIX)
        self.announcer.announce(topic, payload)
        if topic == TASKS:
            self._task_changed(payload)

    def _task_changed(self, task_id: str) -> None:
        if not task_id or self.on_task_change is _ignore or self._closing:
            return
        self._changed.add(task_id)
        if self._feeder is None or self._feeder.done():
            self._feeder = asyncio.get_running_loop().create_task(self._feed_changes())

    async def _feed_changes(self) -> None:
        """Read the tasks announced as changed, many in one query, and hand each to
        `on_task_change`: a burst of callbacks costs one read per FEED_DELAY, not one each."""
        await asyncio.sleep(FEED_DELAY)
        while self._changed and not self._closing:
            ids, self._changed = sorted(self._changed), set()
            try:
                changed = await self.db.read(functools.partial(tasks.select_by_ids, ids))
            except Exception:  # unreachable: the live view misses these updates, nothing more
                log.debug("reading %d changed tasks failed", len(ids), exc_info=True)
                return
            for task in changed:
                self.on_task_change(task)

    def _lost(self, conn: Any) -> None:
        # Until it is back, workers still look on their own interval; nothing waits only on this.
        if not self._closing:
            log.warning("the LISTEN connection to PostgreSQL was lost; reconnecting")
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """Connect again, for as long as it takes (doubling the pause up to 30 s), until
        closed: other processes' changes reach this one again once the database is back."""
        delay, tries = 0.5, 0
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self._listen()
            except Exception as exc:  # any failure: try again later
                tries += 1
                delay = min(delay * 2, 30.0)
                log.warning("the LISTEN connection to PostgreSQL is still down after %d tries"
                            " (%s); trying again in %.0f s", tries, type(exc).__name__, delay)
                continue
            log.info("LISTEN connection to PostgreSQL is back")
            for topic in TOPICS:  # anything may have happened while it was away
                self.announcer.announce(topic, "")
            return


async def _pool(
    url: str, size: int, init: Callable[[OriginConnection], Awaitable[None]],
    timeouts: DatabaseTimeouts, *, pooled: bool,
) -> asyncpg.Pool:
    """The connection pool; behind a transaction pooler without prepared statements (each
    transaction may reach another server session) and session settings (it refuses them)."""
    options: dict[str, Any] = (
        {"statement_cache_size": 0} if pooled
        else {"server_settings": timeouts.server_settings()}
    )
    return await asyncpg.create_pool(
        url, min_size=1, max_size=size, init=init, timeout=timeouts.statement,
        connection_class=OriginConnection,
        # The server cancels a statement first (statement_timeout); this bounds a database that
        # does not answer at all, and every statement behind a pooler.
        command_timeout=timeouts.statement + 1.0, **options,
    )


async def _behind_a_pooler(pool: asyncpg.Pool) -> bool:
    """Whether the pool's connections reach PostgreSQL through a pooler: the server process a
    connection was told it has at start is not the session its statements run in (PgBouncer
    makes up its own). A pooler set to pass session settings by, rather than refuse them, is
    found only so; its prepared statements would fail on the next session they reach."""
    async with pool.acquire() as conn:
        return bool(conn.get_server_pid() != await conn.fetchval("SELECT pg_backend_pid()"))


def _ignore(task: TaskRow) -> None:
    return None


async def _within(seconds: float, closing: Awaitable[None], cut: Callable[[], None]) -> None:
    """Close gracefully within `seconds`, else cut the connections (logged)."""
    try:
        await asyncio.wait_for(closing, seconds)
    except (TimeoutError, *UNAVAILABLE) as exc:
        log.warning("PostgreSQL connections did not close within %g s (%s); cutting them",
                    seconds, type(exc).__name__)
        cut()
