"""`reelhook serve` at start: one instance per SQLite file, one-line errors naming the path or
port, no start-up recovery before both are secured, settings that would lose callbacks refused."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from receiver.errors import SettingsError
from receiver.services.secrets import new_fernet_key
from receiver.settings import from_environ
from store.sqlite.schema import migrate
from tests.helpers import API_TOKEN, ServedReelhook, onemin, port_for_child_process

BASE_ENV = {"REELHOOK_API_TOKEN": API_TOKEN, "REELHOOK_SECRET_KEY": new_fernet_key()}


async def serve_fails(env: Mapping[str, str]) -> tuple[int, str]:
    """Run `reelhook serve` expecting it to stop at once; its exit status and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "receiver", "serve",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "REELHOOK_HOST": "127.0.0.1",
             "PORT": str(port_for_child_process()), **BASE_ENV, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return int(process.returncode or 0), err.decode()


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("reelhook: "), stderr
    return lines[0]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/base?x=1",
        "https://hooks.example.com/base#frag",
        "https://user:pw@hooks.example.com",
        "https://hooks.example.com/my base",
        "https://hooks.example.com/\tx",
    ],
)
def test_a_public_url_that_would_break_callback_addresses_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="REELHOOK_PUBLIC_URL") as caught:
        from_environ({**BASE_ENV, "REELHOOK_PUBLIC_URL": url})
    assert "pw" not in str(caught.value)


async def test_serve_says_which_callback_address_providers_get_when_unset(
    tmp_path: Path,
) -> None:
    served = ServedReelhook({**BASE_ENV, "REELHOOK_DATABASE": str(tmp_path / "r.db")})
    del served.env["REELHOOK_PUBLIC_URL"]
    await served.start()
    await served.signal(15)
    assert "REELHOOK_PUBLIC_URL is unset" in served.stderr
    assert f"http://127.0.0.1:{served.port}/callbacks/" in served.stderr


async def test_a_database_newer_than_the_code_is_refused_untouched(tmp_path: Path) -> None:
    path = str(tmp_path / "newer.db")
    migrate(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
            " VALUES ('reelhook', 'm999_from_the_future', '2030-01-01')"
        )
    before = _dump(path)
    code, stderr = await serve_fails({"REELHOOK_DATABASE": path})
    line = _one_line(stderr)
    assert code == 2 and path in line and "newer" in line
    assert _dump(path) == before


def _dump(path: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


@pytest.mark.parametrize("kind", ["directory", "corrupt", "unwritable", "read-only"])
async def test_an_unusable_database_path_is_one_line_naming_it(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "db"
    if kind == "read-only":
        with read_only_filesystem(tmp_path / "ro") as mount:
            migrate(str(mount / "db"))
            await _refused(mount / "db", readonly=mount)
        return
    if kind == "directory":
        path.mkdir()
    elif kind == "corrupt":
        path.write_bytes(b"this is not an SQLite database file at all" * 100)
    else:
        path = Path("/proc/reelhook-cannot-write-here.db")
    await _refused(path)


async def _refused(path: Path, readonly: Path | None = None) -> None:
    if readonly is not None:
        subprocess.run(["mount", "-o", "remount,ro", str(readonly)], check=True)
    code, stderr = await serve_fails({"REELHOOK_DATABASE": str(path)})
    line = _one_line(stderr)
    assert code == 2 and line.startswith(f"reelhook: cannot open the database {path}: ")


@contextlib.contextmanager
def read_only_filesystem(mount: Path) -> Iterator[Path]:
    """A small tmpfs (mounting needs root, which this project's test machines have)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


async def test_a_port_in_use_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = await serve_fails(
            {"REELHOOK_DATABASE": str(tmp_path / "r.db"), "PORT": str(port)}
        )
    line = _one_line(stderr)
    assert code == 2 and f"PORT {port}" in line


async def _task_status(path: str, task_id: str) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()[0])


async def test_a_second_instance_leaves_the_first_ones_work_alone(
    tmp_path: Path, onemin_sim: Any
) -> None:
    onemin_sim.script.hang = True
    path = str(tmp_path / "shared.db")
    env = {**BASE_ENV, "REELHOOK_DATABASE": path, "ONEMIN_BASE_URL": onemin_sim.base_url,
           "ONEMIN_API_KEY": onemin_sim.api_key}
    first = ServedReelhook(env)
    await first.start()
    try:
        async with first.client() as client:
            task = (await client.post("/v1/tasks", json=onemin())).json()
        for _ in range(500):  # the 1min.ai call is in flight at the simulator
            if onemin_sim.in_flight:
                break
            await asyncio.sleep(0.02)
        assert onemin_sim.in_flight == 1

        code, stderr = await serve_fails(env)
        line = _one_line(stderr)
        assert code == 2 and path in line and "in use" in line
        assert await _task_status(path, task["id"]) == "queued"

        await first.kill()  # now the owner is gone: its send was cut off
        with socket.socket() as taken:  # ... but a start that cannot listen recovers nothing
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            code, stderr = await serve_fails({**env, "PORT": str(taken.getsockname()[1])})
        assert code == 2 and "PORT" in _one_line(stderr)
        assert await _task_status(path, task["id"]) == "queued"
    finally:
        if first.process is not None and first.process.returncode is None:
            await first.kill()
