"""The database schema as a list of migrations, recorded in the database itself.

A file made by any earlier version upgrades in place when it is opened: `migrate` applies
whatever migrations it has not seen yet, in order.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database, Migrations

migrations = Migrations("reelhook")


@migrations()
def m001_tasks_events_deliveries(db: Database) -> None:
    """Tasks, their deduplicated events, and the deliveries of notices they cause."""
    db["tasks"].create(
        {
            "id": str,
            "provider": str,
            "model": str,
            "provider_task_id": str,
            "status": str,
            "progress": int,
            "video_url": str,
            "error": str,
            "cost_usd": float,
            "created_at": str,
            "updated_at": str,
            "metadata": str,
            "request": str,
            "idempotency_key": str,
            "request_fingerprint": str,
            "callback_secret_hash": str,
        },
        pk="id",
        not_null={"provider", "model", "status", "created_at", "updated_at"},
        defaults={"progress": 0, "status": "queued"},
    )
    db["tasks"].create_index(["idempotency_key"], unique=True)
    db["tasks"].create_index(["provider", "provider_task_id"])
    db["tasks"].create_index(["status", "id"])
    db["tasks"].create_index(["provider", "id"])
    db["events"].create(
        {
            "id": int,
            "task_id": str,
            "dedupe_key": str,
            "source": str,
            "provider_status": str,
            "status": str,
            "progress": int,
            "payload": str,
            "received_at": str,
        },
        pk="id",
        not_null={"task_id", "dedupe_key", "source", "received_at"},
        foreign_keys=[("task_id", "tasks", "id")],
    )
    db["events"].create_index(["task_id", "dedupe_key"], unique=True)
    db["deliveries"].create(
        {
            "id": int,
            "task_id": str,
            "state": str,
            "destination_id": int,
            "status": str,
            "attempts": int,
            "next_attempt_at": float,
            "last_error": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"task_id", "state", "status"},
        defaults={"attempts": 0, "status": "pending"},
        foreign_keys=[("task_id", "tasks", "id")],
    )
    db["deliveries"].create_index(["destination_id", "state"], unique=True)
    db["deliveries"].create_index(["status", "next_attempt_at"])


@migrations()
def m002_destinations_attempts_polling(db: Database) -> None:
    """Notice destinations, delivery attempts, and the polling schedule of each task."""
    db["destinations"].create(
        {
            "id": int,
            "task_id": str,
            "channel": str,
            "target": str,
            "label": str,
            "route_key": str,
            "disabled_reason": str,
        },
        pk="id",
        not_null={"channel", "target", "label"},
    )
    db["destinations"].create_index(["task_id"])
    db["attempts"].create(
        {
            "id": int,
            "delivery_id": int,
            "started_at": str,
            "duration_ms": float,
            "status_code": int,
            "error": str,
            "outcome": str,
        },
        pk="id",
        not_null={"delivery_id", "started_at", "outcome"},
        foreign_keys=[("delivery_id", "deliveries", "id")],
    )
    db["attempts"].create_index(["delivery_id"])
    tasks = db["tasks"]
    tasks.add_column("submit_state", str, not_null_default="pending")
    tasks.add_column("next_poll_at", float)
    tasks.add_column("poll_attempts", int, not_null_default=0)
    tasks.add_column("last_event_at", float)
    tasks.add_column("deadline_at", float)
    tasks.create_index(["next_poll_at"])


def connect(path: str, *, read_only: bool = False) -> sqlite3.Connection:
    """Open a connection with the pragmas every reelhook connection uses."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    return conn


def migrate(path: str, *, stop_before: str | None = None) -> list[str]:
    """Bring the file at `path` up to the current schema; return the names applied now."""
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        db = Database(conn)
        pending = [m.name for m in migrations.pending(db)]
        migrations.apply(db, stop_before=stop_before)
        applied = {m.name for m in migrations.applied(db)}
        return [name for name in pending if name in applied]
    finally:
        conn.close()
