"""This process's owner id for the claims it takes (sends, polls, deliveries)."""

from __future__ import annotations

import functools
import os
import secrets
import socket


def process_owner() -> str:
    """An owner id for this process's claims: host, pid and a random part; the same for the
    whole life of a process (a forked web process gets its own)."""
    return _owner_of(os.getpid())


@functools.cache
def _owner_of(pid: int) -> str:
    return f"{socket.gethostname()}-{pid}-{secrets.token_hex(3)}"
