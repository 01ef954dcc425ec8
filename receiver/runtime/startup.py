"""What `reelhook serve` checks before it starts: one instance per SQLite file (only serve takes
it: `tick` and `worker` never recover another process's work, its claims' leases guard that), a
database it can use at this reelhook's schema, and a port it can listen on, all before any
start-up recovery runs. Each failure is one line naming the path or port."""

from __future__ import annotations

import logging
import socket
import sqlite3
from typing import IO

from receiver.errors import StartupError
from receiver.runtime.owner import process_owner
from receiver.settings import Settings
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
