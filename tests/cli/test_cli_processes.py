"""Long-running commands as real processes: serve says where it listens, worker runs without
an API token, JSON logs are one object per line, and sandbox's settings point serve at it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.providers import PROVIDER_NAMES
from receiver.services.secrets import new_fernet_key
from receiver.settings import ProviderSettings
from tests.helpers import API_TOKEN, StartApp, port_for_child_process, wait_for_status, wave


async def spawn(*argv: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "receiver", *argv, env={"PATH": os.environ["PATH"], **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def read_until(stream: Any, ending: str, timeout: float = 60.0) -> list[str]:
    """Lines from a process's output up to and including the first that contains `ending`."""
    lines: list[str] = []
    while not lines or ending not in lines[-1]:
        raw = await asyncio.wait_for(stream.readline(), timeout)
        if not raw:
            raise AssertionError(f"output ended before {ending!r}: {lines}")
        lines.append(raw.decode().rstrip("\n"))
    return lines


async def stop(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """SIGTERM; the exit status and what is left of stderr."""
    process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(process.wait(), 60)
    assert process.stderr is not None
    return code, (await process.stderr.read()).decode()


async def test_serve_prints_where_it_listens_and_the_callback_base_url(tmp_path: Path) -> None:
    port = port_for_child_process()
    env = {"PORT": str(port), "REELHOOK_HOST": "127.0.0.1", "REELHOOK_API_TOKEN": API_TOKEN,
           "REELHOOK_SECRET_KEY": new_fernet_key(), "REELHOOK_DATABASE": str(tmp_path / "r.db"),
           "REELHOOK_PUBLIC_URL": "https://hooks.example.org"}
    process = await spawn("serve", env=env)
    assert process.stdout is not None
    lines = await read_until(process.stdout, "callback base URL")
    assert lines == [
        f"reelhook listening on http://127.0.0.1:{port} (open http://127.0.0.1:{port}/dashboard)",
        "callback base URL given to providers: https://hooks.example.org/callbacks/"
        " (REELHOOK_PUBLIC_URL)",
    ]
    code, _ = await stop(process)
    assert code == 0


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
async def test_serve_runs_on_the_event_loop_chosen(tmp_path: Path, loop: str) -> None:
    port = port_for_child_process()
    env = {"PORT": str(port), "REELHOOK_HOST": "127.0.0.1", "REELHOOK_API_TOKEN": API_TOKEN,
           "REELHOOK_SECRET_KEY": new_fernet_key(), "REELHOOK_DATABASE": str(tmp_path / "r.db"),
           "REELHOOK_EVENT_LOOP": loop}
    process = await spawn("serve", env=env)
    assert process.stderr is not None and process.stdout is not None
    said = await read_until(process.stderr, "event loop")
    assert f"serving on the {loop} event loop" in said[-1]
    await read_until(process.stdout, "callback base URL")
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{port}/healthz")
    assert answer.status_code == 200
    code, _ = await stop(process)
    assert code == 0


async def test_worker_needs_no_api_token_and_logs_one_json_object_per_line(
    tmp_path: Path,
) -> None:
    env = {"REELHOOK_SECRET_KEY": new_fernet_key(), "REELHOOK_DATABASE": str(tmp_path / "r.db"),
           "REELHOOK_LOG_FORMAT": "json"}
    process = await spawn("worker", env=env)
    assert process.stderr is not None
    started = await read_until(process.stderr, "dispatcher worker")
    code, rest = await stop(process)
    assert code == 0
    lines = [line for line in [*started, *rest.splitlines()] if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    messages = [entry["message"] for entry in entries]
    assert any(m.endswith(" started") for m in messages)
    assert any(m.endswith(" stopped") for m in messages)
    assert not any("REELHOOK_API_TOKEN" in line for line in lines)


async def test_bad_log_format_is_refused(tmp_path: Path) -> None:
    env = {"REELHOOK_SECRET_KEY": new_fernet_key(), "REELHOOK_LOG_FORMAT": "xml"}
    process = await spawn("worker", env=env)
    code = await asyncio.wait_for(process.wait(), 60)
    assert process.stderr is not None
    assert code == 2
    assert "REELHOOK_LOG_FORMAT must be text or json" in (await process.stderr.read()).decode()


async def test_sandbox_prints_settings_that_point_serve_at_its_simulators(
    start_app: StartApp,
) -> None:
    process = await spawn("sandbox", env={})
    assert process.stdout is not None
    try:
        lines = await read_until(process.stdout, "# then")
        exports = dict(
            line.removeprefix("export ").split("=", 1) for line in lines
            if line.startswith("export ")
        )
        assert len(exports) == 2 * len(PROVIDER_NAMES)
        providers = {
            name: ProviderSettings(exports[f"{name.upper()}_API_KEY"],
                                   exports[f"{name.upper()}_BASE_URL"])
            for name in PROVIDER_NAMES
        }
        client = await start_app(providers=providers)
        task = await (await client.post("/v1/tasks", json=wave())).json()
        done = await wait_for_status(client, task["id"], timeout=30)
        assert done["status"] == "succeeded", done
        assert done["video_url"].startswith(exports["WAVE_BASE_URL"].rsplit(":", 1)[0])
    finally:
        code, _ = await stop(process)
    assert code == 0


def test_json_logs_keep_warnings_and_uncaught_tracebacks_on_one_line_each() -> None:
    """With REELHOOK_LOG_FORMAT=json nothing reaches stderr except JSON objects, one per line:
    a logged traceback, a warning, an exception that kills a thread (the writer is one) and
    one that ends the program."""
    script = """
import logging, threading, warnings
from receiver.logs import configure_logging
configure_logging("json")
try:
    raise ValueError("first\\\\nsecond")
except ValueError:
    logging.getLogger("reelhook.test").exception("logged with its traceback")
warnings.warn("a warning", RuntimeWarning)
def die():
    raise RuntimeError("thread died")
thread = threading.Thread(target=die, name="reelhook-writer")
thread.start()
thread.join()
raise SystemError("the end")
"""
    done = subprocess.run([sys.executable, "-W", "default", "-c", script],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    entries = [json.loads(line) for line in done.stderr.splitlines()]  # every line is JSON
    by_message = {entry["message"]: entry for entry in entries}
    assert "ValueError: first\\nsecond" in by_message["logged with its traceback"]["exception"]
    assert any("RuntimeWarning: a warning" in message for message in by_message)
    died = by_message["uncaught exception in thread reelhook-writer"]
    assert died["level"] == "CRITICAL" and "RuntimeError: thread died" in died["exception"]
    assert "SystemError: the end" in by_message["uncaught exception"]["exception"]


async def test_a_bad_log_level_is_refused_and_debug_shows_debug_lines(tmp_path: Path) -> None:
    env = {"REELHOOK_SECRET_KEY": new_fernet_key(), "REELHOOK_LOG_LEVEL": "loud"}
    process = await spawn("worker", env=env)
    code = await asyncio.wait_for(process.wait(), 60)
    assert process.stderr is not None
    assert code == 2
    said = (await process.stderr.read()).decode()
    assert "REELHOOK_LOG_LEVEL must be one of debug, info, warning, error" in said
    env = {"REELHOOK_SECRET_KEY": new_fernet_key(), "REELHOOK_DATABASE": str(tmp_path / "r.db"),
           "REELHOOK_LOG_FORMAT": "json", "REELHOOK_LOG_LEVEL": "debug"}
    process = await spawn("worker", env=env)
    assert process.stderr is not None
    started = await read_until(process.stderr, "dispatcher worker")
    _, rest = await stop(process)
    levels = {json.loads(line)["level"] for line in [*started, *rest.splitlines()] if line.strip()}
    assert "DEBUG" in levels  # asyncio's own debug line at least: the level reached the root


def test_log_records_skip_the_caller_thread_and_process_that_no_format_prints() -> None:
    """The access log makes a record per request: the caller's frame, thread and process are
    not looked up for it, and the line printed is the same."""
    script = """
import io, json, logging
from receiver.logs import configure_logging
stream = io.StringIO()
configure_logging("text", "info", stream=stream)
seen = []
logging.getLogger().handlers[0].addFilter(lambda record: seen.append(record) or True)
logging.getLogger("reelhook.access").info("%s %d", "GET /healthz", 200)
record = seen[0]
print(json.dumps([stream.getvalue(), record.funcName, record.lineno, record.threadName,
                  record.process, record.processName]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    line, *looked_up = json.loads(done.stdout)
    assert line.endswith(" INFO reelhook.access GET /healthz 200\n"), line
    assert looked_up == ["(unknown function)", 0, None, None, None]
