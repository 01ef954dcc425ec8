"""A real PgBouncer in transaction mode in front of the test PostgreSQL server (Debian's
`pgbouncer`; `.ci/run` installs it). PgBouncer refuses to run as root: as root it is started as
the `postgres` user. Without the program the tests that need it skip, or with CI=true fail."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.databases import server_url
from tests.helpers import port_for_child_process

CONFIG = """\
[databases]
* = host={host} port={port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
auth_type = trust
auth_file = {dir}/users.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid
"""


def _program() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer"
                                          if os.path.exists("/usr/sbin/pgbouncer") else None)
    if found is None:
        reason = "pgbouncer is not installed (apt-get install -y pgbouncer)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return found


@contextlib.asynccontextmanager
async def pgbouncer(settings: str = "") -> AsyncIterator[int]:
    """A running PgBouncer on a free port, with `settings` added to its [pgbouncer] section
    (lines such as "ignore_startup_parameters = ..."); its port."""
    program = _program()
    server = urlsplit(server_url())
    listen = port_for_child_process()
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o777)
        user = server.username or "postgres"
        Path(folder, "users.txt").write_text(f'"{user}" ""\n')
        Path(folder, "pgbouncer.ini").write_text(CONFIG.format(
            host=server.hostname or "127.0.0.1", port=server.port or 5432, listen=listen,
            dir=folder) + settings)
        command = [program, f"{folder}/pgbouncer.ini"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            await _listening(listen, process)
            yield listen
        finally:
            _stop_by_pidfile(Path(folder, "pgbouncer.pid"))  # runuser does not pass signals on
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


def _stop_by_pidfile(pidfile: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pidfile.read_text().strip()), signal.SIGINT)


async def _listening(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"pgbouncer ended at start: {error}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("pgbouncer did not listen")


def through(port: int, url: str) -> str:
    """`url` reaching its database through the PgBouncer on `port`."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, f"{user}127.0.0.1:{port}", parts.path, parts.query,
                       parts.fragment))
