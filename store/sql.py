"""SQL written once for both databases, and the steps a shared plan takes.

Statements are written with `:name` parameters in the SQL both SQLite and PostgreSQL speak. What
differs is adapted here, in one place:
- PostgreSQL numbers its parameters (`:name` becomes `$1`, the same name the same number);
- `column = ANY(:ids)` takes a list on PostgreSQL; SQLite reads it from a JSON array
  (`column IN (SELECT value FROM json_each(:ids))`);
- row locks (`FOR UPDATE`, `FOR UPDATE SKIP LOCKED`) are PostgreSQL's: SQLite has one writer, so
  they are dropped there;
- a statement that truly differs is a `Dialects` pair, written once per database.

A plan is a generator of steps (store/plans are the shared ones): it yields a `Query` and is sent
the result back, yields `Announce` for a change every listener should hear of after the commit,
and `Lock` for a lock held until the commit (an advisory lock on PostgreSQL; nothing on SQLite,
whose single writer already takes turns). Each database drives plans its own way
(store/sqlite/driver.py, store/postgres/driver.py): decided once, moved twice.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

T = TypeVar("T")
Mode = Literal["row", "rows", "value", "count", "many"]

_NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_ANY = re.compile(r"= ANY\(:(\w+)\)")
_ROW_LOCK = re.compile(r" FOR UPDATE(?: SKIP LOCKED)?")


@dataclass(frozen=True, slots=True)
class Dialects:
    """One statement that must be written differently for each database."""

    sqlite: str
    postgres: str


Sql = str | Dialects


@dataclass(frozen=True, slots=True)
class Query:
    """Run `sql` with `params` (for `many`, a sequence of them); the driver sends back a dict
    (`row`, or None), a list of dicts (`rows`), the first column of the first row (`value`),
    the number of rows changed (`count`), or None (`many`)."""

    sql: Sql
    params: Any
    mode: Mode


@dataclass(frozen=True, slots=True)
class Announce:
    """Tell every listener of `topic` after the commit (store.interface.TOPICS)."""

    topic: str
    payload: str = ""


@dataclass(frozen=True, slots=True)
class Lock:
    """Hold the lock named `key` until the commit (another process waits for it)."""

    key: str


Step = Query | Announce | Lock
Plan = Generator[Step, Any, T]


def row(sql: Sql, **params: Any) -> Query:
    """The first row as a dict, or None."""
    return Query(sql, params, "row")


def rows(sql: Sql, **params: Any) -> Query:
    """Every row, as dicts."""
    return Query(sql, params, "rows")


def value(sql: Sql, **params: Any) -> Query:
    """The first column of the first row, or None."""
    return Query(sql, params, "value")


def count(sql: Sql, **params: Any) -> Query:
    """How many rows the statement changed."""
    return Query(sql, params, "count")


def many(sql: Sql, params: Iterable[Mapping[str, Any]]) -> Query:
    """The statement once per set of parameters."""
    return Query(sql, list(params), "many")


@functools.lru_cache(maxsize=1024)
def for_sqlite(sql: Sql) -> str:
    """The statement as SQLite runs it (with `:name` parameters)."""
    if isinstance(sql, Dialects):
        return sql.sqlite
    text = _ANY.sub(r"IN (SELECT value FROM json_each(:\1))", sql)
    return _ROW_LOCK.sub("", text)


@functools.lru_cache(maxsize=1024)
def for_postgres(sql: Sql) -> tuple[str, tuple[str, ...]]:
    """The statement as PostgreSQL runs it, and the parameter names in `$n` order."""
    text = sql.postgres if isinstance(sql, Dialects) else sql
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAME.sub(number, text), tuple(names)


def where(
    equal: Sequence[tuple[str, Any]], id_column: str, before_id: Any
) -> tuple[str, dict[str, Any]]:
    """A WHERE clause (or "") and its parameters: each column equal to its value where the value
    is given, and `id_column` below the cursor where there is one."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for index, (column, wanted) in enumerate(equal):
        if wanted is not None:
            params[f"p{index}"] = wanted
            clauses.append(f"{column} = :p{index}")
    if before_id is not None:
        params["before_id"] = before_id
        clauses.append(f"{id_column} < :before_id")
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params
