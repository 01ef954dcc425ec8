"""The SQLite schema's steps: each migration of the one history (store/migrations.py), recorded
in the database itself by sqlite-utils' Migrations. The statements both databases share
(store/tables.py) run as they are; only m013's copy of old metadata, m014's triggers, and m015
and m016 (nothing) are SQLite's own. Imported only when a file has something to apply
(store/sqlite/schema.py looks first, without sqlite-utils).
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
    CountTrigger,
    check_dialect,
    count_tables,
)
from store.models import metadata_values
from store.sqlite.connection import connect
from store.tables import TASK_METADATA, shared_steps

migrations = Migrations("reelhook")
_names: list[str] = []  # in order of registration; Migrations keeps its own list private

Step = Callable[[Database], None]


def migration(step: Step) -> Step:
    """Register `step` as the next migration, under its function's name."""
    _names.append(step.__name__)
    return migrations(name=step.__name__)(step)


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


def _register_shared(name: str) -> None:
    """Register the shared migration `name`: its statements, as both databases run them."""
    statements = _SHARED[name]

    def step(db: Database) -> None:
        for statement in statements:
            db.execute(statement)

    step.__name__ = name
    migration(step)


_SHARED = shared_steps("INTEGER PRIMARY KEY")
for _name in _SHARED:
    _register_shared(_name)


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


@migration
def m016_postgres_jsonb(db: Database) -> None:
    """Nothing: SQLite keeps JSON as text."""


def sqlite_trigger(trigger: CountTrigger) -> str:
    """A count trigger in SQLite's words."""
    columns = trigger.changed
    of = f" OF {', '.join(columns)}" if columns else ""
    when = " WHEN " + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns) if columns else ""
    return (f"CREATE TRIGGER {trigger.name} AFTER {trigger.event}{of} ON {trigger.table}"
            f" FOR EACH ROW{when} BEGIN {'; '.join(trigger.body)}; END")


check_dialect("SQLite", tuple(_names))
