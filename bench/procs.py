"""Server processes for the bench: start pinned to a core, wait until they answer, read memory."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVER_CORE = 0
LOAD_CORE = 1


def free_port() -> int:
    """A loopback TCP port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def own_peak_memory_mb() -> float:
    """This process's peak resident set (VmHWM) in MiB; 0 where /proc is missing."""
    return _vm_hwm(Path("/proc/self/status"))


def _vm_hwm(status: Path) -> float:
    if not status.exists():
        return 0.0
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pid_cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid` so far, all threads; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (from /proc/PID/task/*/children, where the kernel has it)."""
    pids = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in children.read_text().split():
                pids += process_tree(int(child))
    return pids


def pinned(argv: Sequence[str], core: int) -> list[str]:
    """`argv` run on one core through taskset, when there are cores enough and taskset exists."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", str(core), *argv]


@dataclass
class ServerProcess:
    """One server under test, running on 127.0.0.1:port."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def peak_memory_mb(self) -> float:
        """The peak resident set (VmHWM) in MiB, summed over the process and its live children
        (the web processes of WEB_CONCURRENCY > 1); 0 where /proc is missing."""
        return sum(_vm_hwm(Path(f"/proc/{pid}/status")) for pid in process_tree(self.process.pid))

    def cpu_seconds(self) -> float:
        """User and system CPU time so far of the process and its live children, all threads;
        0 where /proc is missing."""
        return sum(pid_cpu_seconds(pid) for pid in process_tree(self.process.pid))

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the process so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the server to stop (SIGINT, as Ctrl-C), then insist."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_server(
    name: str, argv: Sequence[str], port: int, env: Mapping[str, str], workdir: Path,
    core: int | None = SERVER_CORE,
) -> ServerProcess:
    """Start `argv` pinned to `core` (None: on any core) and wait until its port answers HTTP."""
    log_path = workdir / f"{name}.log"
    command = list(argv) if core is None else pinned(argv, core)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=log)
    server = ServerProcess(name, port, process, log_path)
    _wait_ready(server)
    return server


def python_argv(*args: str) -> list[str]:
    """This interpreter running `args`."""
    return [sys.executable, *args]


def _wait_ready(server: ServerProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log_path.read_text()[-2000:]}")
        try:
            httpx.get(f"{server.url}/healthz", timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer within {timeout:g} s")
