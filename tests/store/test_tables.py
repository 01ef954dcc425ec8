"""The statements both databases share (store/tables.py) build on SQLite the schema sqlite-utils'
table API built before them: a file made then and a file made now are one schema, and the old
file opens, upgrades nothing and works."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from store import EventIn, NewTask, Observation, SqliteStore
from store.migrations import MIGRATION_NAMES
from store.sqlite.schema import applied_migrations, migrate

OLD_FILE = Path(__file__).parent / "files" / "schema_by_table_api.sql"


def _affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (its documented rules, in order)."""
    kind = declared.upper()
    for part, affinity in (("INT", "INTEGER"), ("CHAR", "TEXT"), ("CLOB", "TEXT"),
                           ("TEXT", "TEXT"), ("REAL", "REAL"), ("FLOA", "REAL"),
                           ("DOUB", "REAL")):
        if part in kind:
            return affinity
    return "BLOB" if not kind or "BLOB" in kind else "NUMERIC"


def _words(sql: str | None) -> str:
    """SQL text with quotes and spacing ignored."""
    return re.sub(r"\s+", " ", re.sub(r'["\[\]]', "", sql or "")).replace("( ", "(").strip()


# What a table's SQL may say beyond its columns' names and types.
_CONSTRAINTS = re.compile(r"\b(CHECK|COLLATE|UNIQUE|ON DELETE|ON UPDATE|AUTOINCREMENT|GENERATED"
                          r"|DEFERRABLE)\b[^,]*", re.IGNORECASE)


def _schema(path: str) -> dict[str, object]:
    """What a schema means to SQLite: per table its columns (name, affinity, not null, default,
    key; a key's declared type itself, since only INTEGER makes a rowid alias), its foreign keys
    with their actions and the constraints its SQL states; per index (automatic ones too) its
    table, columns with order and collation, uniqueness and WHERE; each trigger."""
    conn = sqlite3.connect(path)
    try:
        objects = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master"
            " WHERE tbl_name NOT LIKE 'sqlite_%' AND tbl_name != '_sqlite_migrations'"
        ).fetchall()
        described: dict[str, object] = {}
        for kind, name, table, sql in objects:
            if kind == "table":
                described[name] = (
                    [(c[1], c[2].upper() if c[5] else _affinity(c[2]), c[3], c[4], c[5], c[6])
                     for c in conn.execute(f"PRAGMA table_xinfo({name})")],
                    sorted(f[2:] for f in conn.execute(f"PRAGMA foreign_key_list({name})")),
                    sorted(m.group().strip() for m in _CONSTRAINTS.finditer(_words(sql))),
                )
            elif kind == "index":
                where = _words(sql).partition(" WHERE ")[2]
                columns = [c[1:] for c in conn.execute(f"PRAGMA index_xinfo({name})")]
                unique = conn.execute(
                    "SELECT [unique] FROM pragma_index_list(?) WHERE name = ?", (table, name)
                ).fetchone()[0]
                described[name] = (table, columns, unique, where)
            else:
                described[name] = (table, _words(sql))
        return described
    finally:
        conn.close()


def _old_file(tmp_path: Path) -> str:
    path = str(tmp_path / "old.db")
    conn = sqlite3.connect(path)
    conn.executescript(OLD_FILE.read_text())
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return path


def test_a_file_made_by_the_table_api_and_a_new_file_have_one_schema(tmp_path: Path) -> None:
    old, new = _old_file(tmp_path), str(tmp_path / "new.db")
    migrate(old)
    migrate(new)
    old_schema, new_schema = _schema(old), _schema(new)
    assert len(new_schema) > 40  # tables, indexes and triggers were all read
    assert old_schema == new_schema


async def test_a_file_made_by_the_table_api_opens_and_works(tmp_path: Path) -> None:
    path = _old_file(tmp_path)
    recorded = applied_migrations(path) or []
    assert "m015_postgres_types" in recorded
    assert migrate(path) == [name for name in MIGRATION_NAMES if name not in recorded]
    assert migrate(path) == []
    store = await SqliteStore.open(path)
    try:
        await store.create_task(NewTask("tsk_" + "b" * 28, "piapi", "Qubico/skyreels", {}))
        outcome = await store.record_event(
            "tsk_" + "b" * 28,
            EventIn("k1", "poll", Observation("succeeded", video_url="https://v/1.mp4")),
        )
        assert outcome.task["status"] == "succeeded"
    finally:
        await store.close()
