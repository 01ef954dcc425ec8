"""Whether a database's recorded migrations match this reelhook's, on either database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from store.errors import StoreUnavailable


class SchemaMismatch(StoreUnavailable):
    """The database is behind or ahead of this reelhook's schema; the message says what to run.
    (A StoreUnavailable: this process cannot use the database as it is.)"""


@dataclass(frozen=True)
class SchemaState:
    """The migrations a database has, against those this reelhook knows."""

    applied: tuple[str, ...]
    known: tuple[str, ...]

    @property
    def pending(self) -> tuple[str, ...]:
        """Known migrations the database has not had yet (it is behind)."""
        return tuple(name for name in self.known if name not in self.applied)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Migrations the database has that this reelhook does not know (it is ahead)."""
        return tuple(name for name in self.applied if name not in self.known)

    def check(self) -> None:
        """Raise SchemaMismatch with one line saying what to do unless the schema matches."""
        if self.unknown:
            raise SchemaMismatch(
                f"the database is ahead of this reelhook (it has {', '.join(self.unknown)});"
                " run the reelhook version that migrated it, or a newer one"
            )
        if self.pending:
            raise SchemaMismatch(
                f"the database is behind ({len(self.pending)} migration(s) pending, first"
                f" {self.pending[0]}); run: reelhook migrate"
            )


def state_of(applied: Sequence[str], known: Sequence[str]) -> SchemaState:
    """A SchemaState from two lists of names."""
    return SchemaState(tuple(applied), tuple(known))
