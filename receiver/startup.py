"""What `reelhook serve` checks before it starts: one instance per SQLite file, a database it
can use, and a port it can listen on, all before any start-up recovery runs. Each failure is
one line naming the path or port."""

from __future__ import annotations

import logging
import socket
import sqlite3
from typing import IO

from receiver.errors import StartupError
from receiver.settings import Settings
from store.errors import DatabaseInUse, SchemaTooNew
from store.lock import hold_instance_lock, lock_path
from store.schema import migrate

log = logging.getLogger("reelhook.startup")


def claim_database(settings: Settings) -> IO[str]:
    """Take the file's instance lock, then upgrade the schema; the lock is kept open."""
    path = settings.database
    try:
        lock = hold_instance_lock(path)
    except DatabaseInUse as exc:
        raise StartupError(f"REELHOOK_DATABASE: {exc}") from None
    except OSError as exc:
        raise StartupError(
            f"cannot open the database {path}: cannot create its lock file {lock_path(path)}:"
            f" {exc.strerror}"
        ) from None
    try:
        migrate(path)
    except SchemaTooNew as exc:
        lock.close()
        raise StartupError(f"REELHOOK_DATABASE: {exc}") from None
    except (sqlite3.Error, OSError) as exc:
        lock.close()
        raise StartupError(f"cannot open the database {path}: {exc}") from None
    return lock


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


def warn_if_public_url_unset(settings: Settings, public_url_given: bool) -> None:
    """Say loudly where callbacks will go when REELHOOK_PUBLIC_URL was left unset."""
    if not public_url_given:
        log.warning(
            "REELHOOK_PUBLIC_URL is unset: providers will be given %s/callbacks/..., which only"
            " this machine can reach; set it to the public address", settings.public_url,
        )
