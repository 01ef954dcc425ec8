"""The two comparison servers, run as their own processes: `python -m bench.servers KIND`.

baseline: a bare aiohttp app that reads the body and answers 200.
naive: the receiver most people write by hand: compare the secret header, parse the JSON, insert
one row into SQLite and commit, inside the handler. It gets the same durability as reelhook
(WAL, synchronous=FULL) so the comparison is about the work per request, not about fsync.
"""

from __future__ import annotations

import argparse
import hmac
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web


async def baseline_handler(request: web.Request) -> web.Response:
    """Read the body, answer 200, nothing else."""
    await request.read()
    return web.Response(text="ok")


def baseline_app() -> web.Application:
    """The bare aiohttp app."""
    app = web.Application()
    app.router.add_post("/callbacks/{provider}/{task_id}", baseline_handler)
    return app


def naive_app(database: str, secrets_file: str) -> web.Application:
    """The hand-written receiver: secret check, json.loads, INSERT and COMMIT per request."""
    secrets: dict[str, str] = json.loads(Path(secrets_file).read_text())
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, task_id TEXT NOT NULL,"
        " status TEXT, payload TEXT NOT NULL, UNIQUE(task_id, payload))"
    )

    async def handler(request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        expected = secrets.get(task_id)
        presented = request.headers.get("x-webhook-secret", "")
        if expected is None or not hmac.compare_digest(presented.encode(), expected.encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        body = await request.read()
        message = json.loads(body)
        conn.execute("BEGIN")
        conn.execute(
            "INSERT OR IGNORE INTO events (task_id, status, payload) VALUES (?, ?, ?)",
            (task_id, message["data"]["status"], body.decode()),
        )
        conn.execute("COMMIT")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/callbacks/{provider}/{task_id}", handler)
    app.on_cleanup.append(lambda _app: _close(conn))
    return app


async def _close(conn: sqlite3.Connection) -> None:
    conn.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve one comparison app on 127.0.0.1."""
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("kind", choices=("baseline", "naive"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database")
    parser.add_argument("--secrets")
    args = parser.parse_args(argv)
    app = baseline_app() if args.kind == "baseline" else naive_app(args.database, args.secrets)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
