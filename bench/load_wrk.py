"""Load with wrk and a Lua script that sends each target a new PiAPI callback per request.

Install wrk with `apt-get install -y wrk` (Debian/Ubuntu). The script counts 2xx answers in its
`response` hook and prints one JSON line from `done`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from bench.load import LoadResult
from bench.payload import TIMESTAMP_BASE, Target, lua_template
from bench.procs import LOAD_CORE, pinned

LUA = r"""
local targets = {%(targets)s}
local template = %(template)s
local seq_start = %(seq_start)d
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  seq = seq_start + id * 100000000
  ok, bad = 0, 0
end

function request()
  seq = seq + 1
  local t = targets[(seq %% #targets) + 1]
  local body = string.format(template, %(ts_base)d + seq, t[3], t[2], %(ts_base)d + seq)
  local headers = {["Content-Type"] = "application/json", ["x-webhook-secret"] = t[2]}
  return wrk.format("POST", t[1], headers, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local acked, refused = 0, 0
  for _, thread in ipairs(threads) do
    acked = acked + thread:get("ok")
    refused = refused + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %%d, "ok": %%d, "bad": %%d, "errors": %%d, "micros": %%d,'
    .. ' "p50": %%d, "p99": %%d}\n',
    summary.requests, acked, refused, e.connect + e.read + e.write + e.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""


def available() -> bool:
    """True when wrk is installed."""
    return shutil.which("wrk") is not None


def write_script(path: Path, targets: Sequence[Target], seq_start: int) -> Path:
    """The Lua script for these targets; sequence numbers start after `seq_start`."""
    rows = ", ".join(
        f"{{{_lua(t.path)}, {_lua(t.secret)}, {_lua(t.provider_task_id)}}}"
        for t in targets
    )
    path.write_text(LUA % {
        "targets": rows, "template": _lua(lua_template()), "seq_start": seq_start,
        "ts_base": TIMESTAMP_BASE,
    })
    return path


async def run_wrk(
    url: str, script: Path, *, connections: int, seconds: float, threads: int = 1
) -> LoadResult:
    """One wrk run against `url`, pinned to the load core."""
    argv = pinned(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
         "--timeout", "10s", "-s", str(script), url],
        LOAD_CORE,
    )
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=seconds + 60)
    for line in out.decode().splitlines():
        if line.startswith("BENCH "):
            return _result(json.loads(line[6:]))
    raise RuntimeError(f"wrk printed no result: {out.decode()[-1000:]} {err.decode()[-1000:]}")


def _result(data: dict[str, int]) -> LoadResult:
    return LoadResult(
        generator="wrk",
        requests=data["requests"],
        acknowledged=data["ok"],
        errors=data["errors"] + data["bad"],
        seconds=data["micros"] / 1e6,
        p50_ms=data["p50"] / 1000,
        p99_ms=data["p99"] / 1000,
    )


def _lua(text: str) -> str:
    """A Lua string literal (Lua's escapes match JSON's for what we send)."""
    return json.dumps(text)
