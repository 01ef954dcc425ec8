"""Starting `reelhook serve`: the checks before listening, and WEB_CONCURRENCY web processes
sharing one port (the parent binds the socket, then forks that many processes that each accept
on it, and starts a new one when one dies)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from dispatcher.tls import preload as preload_tls
from receiver.runtime.startup import claim_database, listen, prepare, warn_if_public_url_unset
from receiver.settings import Settings
from store import is_postgres

log = logging.getLogger("reelhook")
# A web process that exits with this status could not start (settings, database): starting it
# again would fail the same way, so serve stops instead.
CANNOT_START = 2


Announce = Callable[[Settings], None]
Startup = Callable[[web.Application], Awaitable[None]]


def serve(settings: Settings, announce: Announce, startup: Startup | None = None) -> int:
    """Run serve in this process, or WEB_CONCURRENCY of them on one port; `startup` runs in
    each once its store and services have started. A SQLite file is locked to this serve (and
    upgraded) and the port bound before any start-up recovery runs; PostgreSQL takes no lock:
    many processes share it, their claims' leases keep them off each other's work."""
    preload_tls()  # the trust store loads in a thread while the app's modules are imported
    postgres = is_postgres(settings.database)
    lock = None if postgres else claim_database(settings)
    try:
        prepare(settings)
        sock = listen(settings)
        warn_if_public_url_unset(settings)
        count = settings.web_concurrency
        if count > 1 and not postgres:
            log.warning("WEB_CONCURRENCY=%d ignored: a SQLite file takes one process; set"
                        " DATABASE_URL (PostgreSQL) to run several", count)
            count = 1
        if count == 1:
            return _serve_one(settings, sock, announce, startup)
        return _serve_many(settings, sock, count, announce, startup)
    finally:
        if lock is not None:
            lock.close()


def _serve_one(
    settings: Settings,
    sock: socket.socket,
    announce: Announce | None,
    startup: Startup | None,
) -> int:
    from receiver.app import create_app
    from receiver.http import edge

    app = create_app(settings)
    if startup is not None:
        app.on_startup.append(startup)  # after the store and services have started
    ready = (lambda: announce(settings)) if announce else (lambda: None)
    log.info("serving on the %s event loop (REELHOOK_EVENT_LOOP)", settings.event_loop)
    edge.serve(app, sock, ready, settings.event_loop, access_log=None, shutdown_timeout=10.0)
    return 0


def _serve_many(
    settings: Settings, sock: socket.socket, count: int, announce: Announce,
    startup: Startup | None,
) -> int:
    children: dict[int, int] = {}
    stopping: list[int] = []

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            code = CANNOT_START
            try:
                code = _serve_one(settings, sock, announce if index == 0 else None, startup)
            finally:
                os._exit(code)
        children[pid] = index

    def stop(signum: int, frame: object) -> None:
        stopping.append(signum)
        for pid in children:
            os.kill(pid, signal.SIGTERM)

    for index in range(count):
        spawn(index)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving with %d web processes on port %d", count, settings.port)
    return _supervise(children, stopping, spawn)


def _supervise(
    children: dict[int, int], stopping: list[int], spawn: Callable[[int], None]
) -> int:
    status = 0
    while children:
        try:
            pid, raw = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if index is None or stopping:
            continue
        code = os.waitstatus_to_exitcode(raw)
        if code == CANNOT_START:
            log.error("a web process could not start; stopping the others")
            stopping.append(code)
            status = CANNOT_START
            for other in children:
                os.kill(other, signal.SIGTERM)
            continue
        log.warning("web process %d exited (%d); starting another", pid, code)
        time.sleep(0.5)
        spawn(index)
    return status
