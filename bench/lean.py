"""The lean receiver: reelhook's callback guarantees and nothing else (`python -m bench.lean`).

What it does per callback, as reelhook must: compare the echoed secret with the task's in
constant time, read and strictly parse the JSON (orjson refuses NaN, Infinity and malformed
input), check the body is about this task, blank the echoed secret, write canonical JSON (sorted
keys), derive a dedupe key from the body, and record the event and the task's new state in a
transaction committed with WAL and `synchronous=FULL` before answering 2xx. Callbacks arriving
together share one commit: the statements run on the event loop, only the COMMIT (WAL write and
fsync) goes to a thread, once per batch. It is the reference reelhook is measured against, not
part of reelhook.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, provider_task_id TEXT NOT NULL,"
    " status TEXT NOT NULL, updated_at REAL)",
    "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, task_id TEXT NOT NULL,"
    " dedupe_key TEXT NOT NULL, status TEXT, payload TEXT NOT NULL, received_at REAL NOT NULL,"
    " UNIQUE(task_id, dedupe_key))",
)
_OK = b'{"ok":true}'
Row = tuple[str, str, str, str, float]  # task_id, dedupe_key, status, payload, received_at


class GroupCommit:
    """Rows handed in while a commit is under way go into the next one, together."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._waiting: list[tuple[Row, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin committing (on the running loop)."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop after the batch under way."""
        if self._task is not None:
            self._task.cancel()

    async def record(self, row: Row) -> None:
        """Return once `row` is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._waiting = self._waiting, []
            try:
                self._write([row for row, _ in batch])
                await asyncio.to_thread(self._conn.execute, "COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for _, future in batch:
                future.set_result(None)

    def _write(self, rows: list[Row]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.executemany(
            "INSERT OR IGNORE INTO events (task_id, dedupe_key, status, payload, received_at)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        self._conn.executemany(
            "UPDATE tasks SET status = ?, updated_at = ? WHERE id = ?",
            [(status, at, task_id) for task_id, _, status, _, at in rows],
        )


def lean_app(database: str, tasks_file: str) -> web.Application:
    """The receiver for the tasks in `tasks_file` ({task_id: [secret, provider_task_id]})."""
    tasks: dict[str, tuple[bytes, str]] = {
        task_id: (secret.encode(), ptid)
        for task_id, (secret, ptid) in json.loads(Path(tasks_file).read_text()).items()
    }
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    for statement in SCHEMA:
        conn.execute(statement)
    conn.executemany(
        "INSERT OR IGNORE INTO tasks (id, provider_task_id, status) VALUES (?, ?, 'queued')",
        [(task_id, ptid) for task_id, (_, ptid) in tasks.items()],
    )
    group = GroupCommit(conn)

    async def handler(request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        known = tasks.get(task_id)
        presented = request.headers.get("x-webhook-secret", "").encode()
        if known is None or not hmac.compare_digest(presented, known[0]):
            return web.json_response({"error": "unauthorized"}, status=401)
        body = await request.read()
        row = _row(task_id, known[1], body)
        if row is None:
            return web.json_response({"error": "malformed callback"}, status=400)
        await group.record(row)
        return web.Response(body=_OK, content_type="application/json")

    async def on_startup(_app: web.Application) -> None:
        group.start()

    async def on_cleanup(_app: web.Application) -> None:
        await group.stop()
        conn.close()

    app = web.Application()
    app.router.add_post("/callbacks/{provider}/{task_id}", handler)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def _row(task_id: str, provider_task_id: str, body: bytes) -> Row | None:
    """The event row of a PiAPI callback body, or None when it is malformed or not this task's."""
    try:
        message: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict) or data.get("task_id") != provider_task_id:
        return None
    config = data.get("config")
    hook = config.get("webhook_config") if isinstance(config, dict) else None
    if isinstance(hook, dict) and hook.get("secret"):
        hook["secret"] = "[redacted]"
    status = str(data.get("status", "")).lower()
    key = f"cb:{provider_task_id}:{status}:{message.get('timestamp')}:"
    key += hashlib.sha256(body).hexdigest()[:32]
    payload = orjson.dumps(message, option=orjson.OPT_SORT_KEYS).decode()
    return task_id, key, status, payload, time.time()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the lean receiver on 127.0.0.1."""
    parser = argparse.ArgumentParser(prog="python -m bench.lean")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--tasks", required=True)
    args = parser.parse_args(argv)
    web.run_app(lean_app(args.database, args.tasks), host="127.0.0.1", port=args.port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()
