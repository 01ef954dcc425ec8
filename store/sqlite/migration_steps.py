"""The SQLite schema's steps: each migration of the one history (store/migrations.py) in
SQLite's dialect, recorded in the database itself by sqlite-utils' Migrations. Imported only
when a file has something to apply (store/sqlite/schema.py looks first, without sqlite-utils).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable

from sqlite_utils import Database, Migrations

from store.errors import SchemaTooNew
from store.migrations import (
    COUNT_BACKFILL,
    COUNT_TRIGGERS,
    IN_FLIGHT_INDEX,
    TASK_METADATA,
    CountTrigger,
    check_dialect,
    count_tables,
    registered_destinations,
)
from store.models import metadata_values
from store.sqlite.connection import connect

migrations = Migrations("reelhook")
_names: list[str] = []  # in order of registration; Migrations keeps its own list private

Step = Callable[[Database], None]


def migration(step: Step) -> Step:
    """Register `step` as the next migration, under its function's name."""
    _names.append(step.__name__)
    return migrations(name=step.__name__)(step)


@migration
def m001_tasks_events_deliveries(db: Database) -> None:
    """Tasks, their deduplicated events, and the deliveries of notices they cause."""
    db.table("tasks").create(
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
    db.table("tasks").create_index(["idempotency_key"], unique=True)
    db.table("tasks").create_index(["provider", "provider_task_id"])
    db.table("tasks").create_index(["status", "id"])
    db.table("tasks").create_index(["provider", "id"])
    db.table("events").create(
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
    db.table("events").create_index(["task_id", "dedupe_key"], unique=True)
    db.table("deliveries").create(
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
    db.table("deliveries").create_index(["destination_id", "state"], unique=True)
    db.table("deliveries").create_index(["status", "next_attempt_at"])


@migration
def m002_destinations_attempts_polling(db: Database) -> None:
    """Notice destinations, delivery attempts, and the polling schedule of each task."""
    db.table("destinations").create(
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
    db.table("destinations").create_index(["task_id"])
    db.table("attempts").create(
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
    db.table("attempts").create_index(["delivery_id"])
    tasks = db.table("tasks")
    tasks.add_column("submit_state", str, not_null_default="pending")
    tasks.add_column("next_poll_at", float)
    tasks.add_column("poll_attempts", int, not_null_default=0)
    tasks.add_column("last_event_at", float)
    tasks.add_column("deadline_at", float)
    tasks.create_index(["next_poll_at"])


@migration
def m003_dispatcher_claims(db: Database) -> None:
    """Claims on deliveries (so a crashed worker's sends are taken over) and retry cycles."""
    deliveries = db.table("deliveries")
    deliveries.add_column("claimed_at", float)
    deliveries.add_column("claim_owner", str)
    deliveries.add_column("cycle_start", int, not_null_default=0)
    deliveries.add_column("delivered_at", str)
    deliveries.create_index(["task_id"])
    db.table("destinations").create_index(["route_key"])


def applied_migrations(path: str) -> list[str] | None:
    """The names of the migrations recorded in the file; None when there is no file yet."""
    if path != ":memory:" and not os.path.exists(path):
        return None
    conn = connect(path, read_only=True)
    try:
        return [m.name for m in migrations.applied(Database(conn))]
    finally:
        conn.close()


def migrate(path: str, *, stop_before: str | None = None) -> list[str]:
    """Bring the file at `path` up to the current schema; return the names applied now."""
    conn = connect(path)
    try:
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            # Only an empty file can take it: retention's deletes then give space back.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        db = Database(conn)
        _refuse_newer(db, path)
        pending = [m.name for m in migrations.pending(db)]
        migrations.apply(db, stop_before=stop_before)
        applied = {m.name for m in migrations.applied(db)}
        return [name for name in pending if name in applied]
    finally:
        conn.close()


def _refuse_newer(db: Database, path: str) -> None:
    """SchemaTooNew when the file records migrations this code does not have."""
    known = {migration.name for migration in migrations.pending(Database(memory=True))}
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        raise SchemaTooNew(
            f"{path} was upgraded by a newer reelhook (schema {unknown[-1]}); run that version"
        )


@migration
def m004_providers_held_submissions(db: Database) -> None:
    """Submissions held back by a provider's in-flight cap or a busy answer, sealed until sent."""
    tasks = db.table("tasks")
    tasks.add_column("held_request", str)
    tasks.add_column("submit_after", float)
    tasks.create_index(["provider", "submit_state"])


@migration
def m005_inbound_messages(db: Database) -> None:
    """Messages received on the generic Standard Webhooks route, deduplicated on webhook-id."""
    db.table("inbound_messages").create(
        {"id": int, "source": str, "webhook_id": str, "received_at": str, "payload": str},
        pk="id",
        not_null={"source", "webhook_id", "received_at"},
    )
    db.table("inbound_messages").create_index(["source", "webhook_id"], unique=True)


@migration
def m006_route_disabled_index(db: Database) -> None:
    """Finding whether a route is disabled without reading every destination on that route.

    Many tasks share one route (one webhook URL); without this index each due delivery scanned
    all of them, and a backlog of 10,000 took seconds per worker round (bench/README.md).
    """
    db.table("destinations").create_index(["route_key", "disabled_reason"])


@migration
def m007_task_claims(db: Database) -> None:
    """Who holds a task's submit or poll, and until when (a lease others take over after)."""
    tasks = db.table("tasks")
    tasks.add_column("claim_owner", str)
    tasks.add_column("claim_expires_at", float)


@migration
def m008_kept_videos(db: Database) -> None:
    """The kept copy of each succeeded task's video, and the durable job that makes it."""
    tasks = db.table("tasks")
    for name, kind in VIDEO_COLUMNS:
        tasks.add_column(name, kind)
    tasks.add_column("video_attempts", int, not_null_default=0)
    tasks.create_index(["video_status", "video_next_at"])


@migration
def m009_key_check(db: Database) -> None:
    """A value sealed with the secret key, so a start with another key is refused."""
    db.execute(
        "CREATE TABLE key_check (id INTEGER PRIMARY KEY CHECK (id = 1), sealed TEXT NOT NULL)"
    )


@migration
def m010_ended_sessions(db: Database) -> None:
    """Dashboard sessions ended by signing out, until they would expire."""
    db.execute("CREATE TABLE ended_sessions (sid TEXT PRIMARY KEY, expires_at REAL NOT NULL)")


@migration
def m011_registered_destinations(db: Database) -> None:
    """Registered destinations, the health of each address, and the operator's alerts."""
    for statement in registered_destinations("INTEGER PRIMARY KEY"):
        db.execute(statement)


@migration
def m012_in_flight_index(db: Database) -> None:
    """A provider's tasks in flight counted from the unfinished ones, not its whole history."""
    db.execute(IN_FLIGHT_INDEX)


@migration
def m013_task_metadata(db: Database) -> None:
    """Each task's metadata values in a table of their own, indexed, for the search."""
    for statement in TASK_METADATA:
        db.execute(statement)
    # Read by Python, as new tasks' are: SQLite's JSON functions spell numbers their own way.
    for task_id, text in db.execute(
        "SELECT id, metadata FROM tasks WHERE metadata IS NOT NULL"
    ).fetchall():
        with contextlib.suppress(ValueError):
            db.conn.executemany(
                "INSERT OR IGNORE INTO task_metadata (task_id, key, value) VALUES (?, ?, ?)",
                [(task_id, key, value) for key, value in metadata_values(json.loads(text))],
            )


@migration
def m014_counts(db: Database) -> None:
    """Counts kept as rows change, so /metrics and the cost pages read a few rows."""
    for statement in count_tables("INTEGER PRIMARY KEY"):
        db.execute(statement)
    for trigger in COUNT_TRIGGERS:
        db.execute(sqlite_trigger(trigger))
    for statement in COUNT_BACKFILL:
        db.execute(statement)


@migration
def m015_postgres_types(db: Database) -> None:
    """Nothing: SQLite's types are its own already (times as ISO 8601 text, JSON as text)."""


def sqlite_trigger(trigger: CountTrigger) -> str:
    """A count trigger in SQLite's words."""
    columns = trigger.changed
    of = f" OF {', '.join(columns)}" if columns else ""
    when = " WHEN " + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns) if columns else ""
    return (f"CREATE TRIGGER {trigger.name} AFTER {trigger.event}{of} ON {trigger.table}"
            f" FOR EACH ROW{when} BEGIN {'; '.join(trigger.body)}; END")


VIDEO_COLUMNS: tuple[tuple[str, type], ...] = (
    ("video_status", str), ("video_bytes", int), ("video_sha256", str),
    ("video_content_type", str), ("video_kept_at", str), ("video_expires_at", float),
    ("video_error", str), ("video_key", str), ("video_next_at", float),
    ("video_claim_owner", str), ("video_claim_expires", float),
)
check_dialect("SQLite", tuple(_names))
