"""After a run: is every acknowledged callback in the database, and none twice?"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import LoadResult
from bench.payload import TIMESTAMP_BASE
from bench.postgres import stored_callbacks
from store import is_postgres

# Each query gives, per stored callback, its timestamp (unique per request) and the echoed secret
# as stored (blank or "[redacted]" when it was kept out).
_ROWS = (
    "SELECT json_extract(payload, '$.timestamp'),"
    " json_extract(payload, '$.data.config.webhook_config.secret') FROM events"
)
REELHOOK_ROWS = _ROWS + " WHERE source = 'callback'"
NAIVE_ROWS = _ROWS
LEAN_ROWS = _ROWS
HIDDEN = ("", "[redacted]", None)


@dataclass(frozen=True)
class Verdict:
    """What the database holds against what the load generator saw acknowledged."""

    stored: int
    distinct: int
    acknowledged: int
    in_flight_allowance: int
    missing: int | None
    secrets_stored: int = 0
    hides_secrets: bool = True

    @property
    def ok(self) -> bool:
        """Every acknowledged callback stored, none twice, nothing stored beyond the in-flight."""
        if self.stored != self.distinct or self.missing:
            return False
        if self.hides_secrets and self.secrets_stored:
            return False
        return self.acknowledged <= self.stored <= self.acknowledged + self.in_flight_allowance

    def describe(self) -> str:
        """One line for the report."""
        exact = "" if self.missing is None else f", acknowledged but missing {self.missing}"
        return (
            f"{'OK' if self.ok else 'FAILED'}: {self.stored} stored, {self.distinct} distinct,"
            f" {self.acknowledged} acknowledged (+ up to {self.in_flight_allowance} in flight"
            f" when the load stopped){exact}; echoed secret stored in {self.secrets_stored}"
        )


async def verify(
    database: Path | str, query: str, load: LoadResult, connections: int,
    *, hides_secrets: bool = True,
) -> Verdict:
    """Compare the rows in `database` with what `load` says was acknowledged, and count the
    rows that kept the echoed secret (a failure where the server must hide it). `database` is
    a SQLite file, read with `query`, or a PostgreSQL URL (reelhook's stored callbacks)."""
    if isinstance(database, str) and is_postgres(database):
        rows: Sequence[tuple[Any, Any]] = await stored_callbacks(database)
    else:
        rows = await asyncio.to_thread(sqlite_rows, Path(database), query)
    return judge(rows, load, connections, hides_secrets=hides_secrets)


def sqlite_rows(database: Path, query: str) -> list[tuple[Any, Any]]:
    """The (timestamp, echoed secret) rows `query` reads from the SQLite file."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def judge(
    rows: Sequence[tuple[Any, Any]], load: LoadResult, connections: int,
    *, hides_secrets: bool = True,
) -> Verdict:
    """The stored (timestamp, echoed secret) rows against what `load` saw acknowledged."""
    seqs = [int(row[0]) - TIMESTAMP_BASE for row in rows]
    leaked = sum(1 for row in rows if row[1] not in HIDDEN)
    if load.acknowledged_seqs is None:
        # wrk cannot say which requests were answered, only how many; those still in flight
        # when it stopped (one per connection at most) may be stored without being counted.
        return Verdict(len(seqs), len(set(seqs)), load.acknowledged, connections, None,
                       leaked, hides_secrets)
    missing = len(load.acknowledged_seqs - set(seqs))
    unanswered = load.requests - load.acknowledged
    return Verdict(len(seqs), len(set(seqs)), load.acknowledged, unanswered, missing,
                   leaked, hides_secrets)
