"""After a run: is every acknowledged callback in the database, and none twice?"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bench.load import LoadResult
from bench.payload import TIMESTAMP_BASE

REELHOOK_ROWS = "SELECT json_extract(payload, '$.timestamp') FROM events WHERE source = 'callback'"
NAIVE_ROWS = "SELECT json_extract(payload, '$.timestamp') FROM events"


@dataclass(frozen=True)
class Verdict:
    """What the database holds against what the load generator saw acknowledged."""

    stored: int
    distinct: int
    acknowledged: int
    in_flight_allowance: int
    missing: int | None

    @property
    def ok(self) -> bool:
        """Every acknowledged callback stored, none twice, nothing stored beyond the in-flight."""
        if self.stored != self.distinct or self.missing:
            return False
        return self.acknowledged <= self.stored <= self.acknowledged + self.in_flight_allowance

    def describe(self) -> str:
        """One line for the report."""
        exact = "" if self.missing is None else f", acknowledged but missing {self.missing}"
        return (
            f"{'OK' if self.ok else 'FAILED'}: {self.stored} stored, {self.distinct} distinct,"
            f" {self.acknowledged} acknowledged (+ up to {self.in_flight_allowance} in flight"
            f" when the load stopped){exact}"
        )


def verify(database: Path, query: str, load: LoadResult, connections: int) -> Verdict:
    """Compare the rows in `database` with what `load` says was acknowledged."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        seqs = [int(row[0]) - TIMESTAMP_BASE for row in conn.execute(query)]
    finally:
        conn.close()
    if load.acknowledged_seqs is None:
        # wrk cannot say which requests were answered, only how many; those still in flight
        # when it stopped (one per connection at most) may be stored without being counted.
        return Verdict(len(seqs), len(set(seqs)), load.acknowledged, connections, None)
    missing = len(load.acknowledged_seqs - set(seqs))
    unanswered = load.requests - load.acknowledged
    return Verdict(len(seqs), len(set(seqs)), load.acknowledged, unanswered, missing)
