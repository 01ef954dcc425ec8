"""Plans run on one SQLite file: reads on the reader threads, writes on the writer thread, and
what a write announces told to this process's listeners after its commit, and to the other
processes' through the doorbell."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, TypeVar

from store.announce import Announcer
from store.interface import DELIVERIES, SLOTS
from store.parts import BatchPlan, PlanOf
from store.sql import Announce
from store.sqlite import driver
from store.sqlite.doorbell import Doorbell
from store.sqlite.reader import Reader
from store.sqlite.writer import Writer

T = TypeVar("T")

# What other processes on the file wait for (a worker for notices, a submit queue for slots).
RUNG_TOPICS = frozenset({DELIVERIES, SLOTS})


class SqliteDatabase:
    """`store.parts.Database` on a SQLite file."""

    def __init__(
        self, writer: Writer, reader: Reader, announcer: Announcer, doorbell: Doorbell
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._announcer = announcer
        self._doorbell = doorbell
        self._batches: dict[BatchPlan, _PlanBatch] = {}

    async def read(self, plan: PlanOf[T]) -> T:
        """A plan that only reads, on a reader thread."""
        return await self._reader.run(lambda conn: driver.result_of(conn, plan()))

    async def write(self, plan: PlanOf[T]) -> T:
        """A plan on the writer thread, in its next commit; then what it announced."""
        result, announced = await self._writer.run(lambda conn: driver.drive(conn, plan()))
        self.announce(announced)
        return result

    write_grouped = write

    async def write_batched(self, batch: BatchPlan, item: Any) -> Any:
        """`batch([item])`'s result, run with the items of the same batch waiting beside it."""
        kind = self._batches.setdefault(batch, _PlanBatch(batch))
        return await self._writer.run_batched(kind, item)

    def announce(self, announced: list[Announce]) -> None:
        """Tell this process's listeners, and ring the other processes' (after the commit)."""
        for step in announced:
            self._announcer.announce(step.topic, step.payload)
        for topic in {step.topic for step in announced} & RUNG_TOPICS:
            self._doorbell.ring(topic)

    def rung(self, topic: str) -> None:
        """Another process's commit announced `topic`: tell this process's listeners."""
        if topic in RUNG_TOPICS:
            self._announcer.announce(topic, "")


@dataclass(frozen=True)
class _PlanBatch:
    """A batch plan as the writer's `Batched` kind (store/sqlite/writer.py)."""

    plans: BatchPlan

    def run_one(self, conn: sqlite3.Connection, item: Any) -> Any:
        """One item on its own."""
        return self.run_many(conn, [item])[0]

    def run_many(self, conn: sqlite3.Connection, items: list[Any]) -> list[Any]:
        """Every item, in order."""
        results, announced = driver.drive(conn, self.plans(items))
        if announced:
            raise TypeError("a batched plan cannot announce: its commit is shared")
        return results
