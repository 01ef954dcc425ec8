"""What `reelhook serve` checks before it starts: one instance per SQLite file (only serve takes
it: `tick` and `worker` never recover another process's work, its claims' leases guard that), a
database it can use at this reelhook's schema, and a port it can listen on, all before any
start-up recovery runs. Each failure is one line naming the path or port. `prepare` is what
every long-running command (serve, worker, tick) checks and warns about first."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from typing import IO

from receiver.errors import StartupError
from receiver.runtime.patience import wait_out_outages
from receiver.services.owner import process_owner
from receiver.settings import (
    Settings,
    disk_warning,
    short_token_warning,
    unsigned_alerts_warning,
)
from store import is_postgres, schema_state
from store.errors import DatabaseInUse, SchemaTooNew
from store.migrations import MIGRATION_NAMES
from store.sqlite import (
    applied_migrations,
    end_claims_of,
    hold_instance_lock,
    lock_path,
    migrate,
)
from store.versions import SchemaMismatch, state_of

log = logging.getLogger("reelhook.startup")


def claim_database(settings: Settings) -> IO[str]:
    """Take the file's instance lock, then upgrade the schema; the lock is kept open."""
    path = settings.database
    try:
        lock, previous = hold_instance_lock(path, process_owner())
    except DatabaseInUse as exc:
        raise StartupError(f"REELHOOK_DATABASE: {exc}") from None
    except OSError as exc:
        raise StartupError(
            f"cannot open the database {path}: cannot create its lock file {lock_path(path)}:"
            f" {exc.strerror}"
        ) from None
    try:
        _refuse_behind(path)
        migrate(path)
        if previous:
            # The serve before this one is gone (its lock was dropped): its claims end now, so
            # start-up recovery settles its cut-off sends at once instead of after their lease.
            end_claims_of(path, previous)
    except (SchemaTooNew, SchemaMismatch) as exc:
        lock.close()
        raise StartupError(f"REELHOOK_DATABASE: {exc}") from None
    except (sqlite3.Error, OSError) as exc:
        lock.close()
        raise StartupError(f"cannot open the database {path}: {exc}") from None
    return lock


def _refuse_behind(path: str) -> None:
    """SchemaMismatch for a file an older reelhook wrote: `reelhook migrate` upgrades it, on
    purpose, not a start (a new or empty file is made current at start)."""
    applied = applied_migrations(path)
    if applied:
        state = state_of(applied, MIGRATION_NAMES)
        if state.pending and not state.unknown:
            state.check()


def listen(settings: Settings) -> socket.socket:
    """A listening socket on REELHOOK_HOST:PORT, bound before the app starts."""
    try:
        infos = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise StartupError(f"REELHOOK_HOST {settings.host!r}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(512)
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"PORT {settings.port}: cannot listen on {settings.host}:{settings.port}:"
            f" {exc.strerror or exc}"
        ) from None
    sock.setblocking(False)
    return sock


def warn_if_public_url_unset(settings: Settings) -> None:
    """Say loudly where callbacks will go when REELHOOK_PUBLIC_URL was left unset."""
    if not settings.public_url_given:
        log.warning(
            "REELHOOK_PUBLIC_URL is unset: providers will be given %s/callbacks/..., which only"
            " this machine can reach; set it to the public address", settings.public_url,
        )


async def check_database(settings: Settings) -> None:
    """Refuse a database behind or ahead of this reelhook (SchemaMismatch, one line); a SQLite
    file that does not exist yet is created at start."""
    state = await wait_out_outages(settings.database, lambda: schema_state(settings.database))
    if is_postgres(settings.database) or state.applied:
        state.check()


def prepare(settings: Settings) -> None:
    """What every long-running command does before it starts: refuse a database at the wrong
    schema version (in one line, before anything else is said), then warn about a wiped disk
    and short tokens."""
    asyncio.run(check_database(settings))
    for warning in (disk_warning(settings), short_token_warning(settings),
                    unsigned_alerts_warning(settings)):
        if warning:
            log.warning("%s", warning)
    if settings.secret_key_file:
        log.warning("REELHOOK_SECRET_KEY is unset: callback secrets and stored destinations are"
                    " protected by the key kept in %s; keep that file safe and apart from copies"
                    " of the database, or set REELHOOK_SECRET_KEY", settings.secret_key_file)
