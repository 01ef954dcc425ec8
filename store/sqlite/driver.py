"""Plans (store/sql.py) run on a SQLite connection, inside the writer or a reader thread."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any, TypeVar

from store.sql import Announce, Lock, Plan, Query, for_sqlite

T = TypeVar("T")


def drive(conn: sqlite3.Connection, plan: Plan[T]) -> tuple[T, list[Announce]]:
    """Run every step of `plan` on `conn`: its result and what it announces (for the caller to
    announce once the transaction is committed)."""
    announced: list[Announce] = []
    try:
        step = next(plan)
        while True:
            if isinstance(step, Query):
                step = plan.send(_run(conn, step))
            elif isinstance(step, Announce):
                announced.append(step)
                step = plan.send(None)
            elif isinstance(step, Lock):  # one writer: every write already takes its turn
                step = plan.send(None)
            else:
                raise TypeError(f"a plan yielded {step!r}")
    except StopIteration as done:
        return done.value, announced


def result_of(conn: sqlite3.Connection, plan: Plan[T]) -> T:
    """The result of `plan` (for a plan that announces nothing, or whose caller announces)."""
    result, _ = drive(conn, plan)
    return result


def _run(conn: sqlite3.Connection, query: Query) -> Any:
    sql = for_sqlite(query.sql)
    if query.mode == "many":
        conn.executemany(sql, [_params(p) for p in query.params])
        return None
    cursor = conn.execute(sql, _params(query.params))
    if query.mode == "count":
        return cursor.rowcount
    if query.mode == "value":
        first = cursor.fetchall()
        return first[0][0] if first else None
    found = as_dicts(cursor)
    if query.mode == "row":
        return found[0] if found else None
    return found


def _params(params: Mapping[str, Any]) -> Mapping[str, Any]:
    # A list is read through json_each (store/sql.py rewrites `= ANY(:name)` for SQLite).
    if any(isinstance(v, list | tuple) for v in params.values()):
        return {k: json.dumps(v) if isinstance(v, list | tuple) else v for k, v in params.items()}
    return params


def as_dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """Every remaining row of `cursor` as a dict of column name to value.

    dict(row) on a sqlite3.Row looks each name up again (about 4x slower for a 20-column row);
    this matters where many rows are read per call (the outbox's due rows, a batch's tasks).
    """
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    cursor.row_factory = None  # plain tuples: zipping a sqlite3.Row is slower (read at fetch)
    return [dict(zip(names, found, strict=True)) for found in cursor.fetchall()]
