"""Wake-ups across processes that share one SQLite file, as LISTEN/NOTIFY does on PostgreSQL.

A process that listens keeps a Unix datagram socket in a folder beside the database
(`<file>.bells/`); a process whose commit queued notices or freed a submit slot rings every
socket there, without waiting. A ring names only its topic: the listener looks for due work, as
it would at its next poll. A lost ring (a full buffer, a folder on a file system without
sockets) only delays the work until that poll; a socket left by a killed process refuses the
ring and is removed by the ringer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("reelhook.store")

MAX_SOCKET_PATH = 103  # bytes: sun_path holds 104 (macOS) to 108 (Linux) with its NUL


def bells_folder(database: str) -> Path | None:
    """The folder of the listening sockets of the processes using the file `database` (None
    for an in-memory database or a URI, or where the system has no Unix sockets)."""
    if database == ":memory:" or database.startswith("file:") or not hasattr(socket, "AF_UNIX"):
        return None
    return Path(os.path.abspath(database) + ".bells")


class Doorbell:
    """Rings the other processes' sockets; listens on one of its own when asked to."""

    def __init__(self, database: str) -> None:
        self.folder = bells_folder(database)
        self._sender: socket.socket | None = None
        self._own: socket.socket | None = None
        self._own_path: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def listening(self) -> bool:
        """Whether this process has a socket of its own in the folder."""
        return self._own is not None

    def ring(self, topic: str) -> None:
        """Tell every other listening process of `topic` now (no wait: a full socket is
        skipped)."""
        if self.folder is None or self._closed:
            return
        try:
            names = os.listdir(self.folder)
        except OSError:
            return  # nobody listens (no folder yet)
        for name in names:
            path = self.folder / name
            if path != self._own_path:
                self._ring_one(path, topic.encode())

    def listen(self, on_ring: Callable[[str], None]) -> bool:
        """Bind this process's socket and call `on_ring(topic)` (on the running loop) for the
        topics rung since it last looked;
        False when this system or path cannot (the listener then relies on its own poll)."""
        if self._own is not None:
            return True
        if self._closed:
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False  # not in a service: nothing would hear it
        if self.folder is None:
            return False
        path = self.folder / f"{os.getpid()}-{secrets.token_hex(4)}"
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            log.info("no cross-process wake-ups: the path %s is too long for a socket", path)
            return False
        try:
            self.folder.mkdir(mode=0o700, exist_ok=True)
            own = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            own.setblocking(False)
            own.bind(os.fspath(path))
        except OSError as exc:
            log.info("no cross-process wake-ups beside %s: %s", self.folder, exc)
            return False
        loop.add_reader(own.fileno(), self._heard, own, on_ring)
        self._loop, self._own, self._own_path = loop, own, path
        return True

    def close(self) -> None:
        """Stop listening and ringing, and remove this process's socket."""
        self._closed = True
        own, path = self._own, self._own_path
        self._own = self._own_path = None
        if own is not None and self._loop is not None:
            with contextlib.suppress(Exception):  # the loop may be closed already
                self._loop.remove_reader(own.fileno())
            own.close()
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    def _ring_one(self, path: Path, topic: bytes) -> None:
        sender = self._sender
        if sender is None:
            sender = self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sender.setblocking(False)
        try:
            sender.sendto(topic, os.fspath(path))
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(OSError):  # its process is gone
                path.unlink()
        except OSError:
            pass  # its buffer is full (it has been rung already) or it is not a socket

    @staticmethod
    def _heard(own: socket.socket, on_ring: Callable[[str], None]) -> None:
        rung: set[bytes] = set()
        with contextlib.suppress(OSError):  # BlockingIOError: nothing more to read
            while True:
                rung.add(own.recv(64))
        for topic in rung:
            on_ring(topic.decode(errors="replace"))
