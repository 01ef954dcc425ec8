"""Retention: events, delivery attempts and inbound messages older than REELHOOK_KEEP_DAYS are
deleted in small batches (tasks, their final state and their deliveries stay), by the notice
worker once an hour and by `tick`; `reelhook prune --dry-run` counts what would go."""

from __future__ import annotations

import asyncio
import logging
import time

from store.interface import TaskStore
from store.models import iso_from_epoch
from store.plans.retention import PRUNED

log = logging.getLogger("reelhook.retention")
BATCH = 500  # rows per delete: one short commit, so callbacks' writes are never held long
PAUSE = 0.05  # seconds between batches, for the writes waiting behind them
PRUNE_EVERY = 3600.0  # seconds between prunes of the worker


def cutoff_of(keep_days: float, now: float | None = None) -> str:
    """The ISO 8601 moment before which rows go."""
    return iso_from_epoch((time.time() if now is None else now) - keep_days * 86400)


async def count_old(store: TaskStore, keep_days: float) -> dict[str, int]:
    """How many rows of each pruned table are older than `keep_days`."""
    cutoff = cutoff_of(keep_days)
    return {kept.table: await store.retention.count_old(kept, cutoff) for kept in PRUNED}


async def prune(
    store: TaskStore, keep_days: float, deadline: float | None = None, batch: int = BATCH,
    now: float | None = None, pause: float = PAUSE,
) -> dict[str, int]:
    """Delete what is older than `keep_days` (before `now`, Unix seconds), `batch` rows at a
    time with `pause` seconds between, until none is left or the monotonic `deadline` passes;
    then give the space back (SQLite). Rows deleted per table."""
    cutoff = cutoff_of(keep_days, now)
    deleted = {kept.table: 0 for kept in PRUNED}
    for kept in PRUNED:
        while deadline is None or time.monotonic() < deadline:
            gone = await store.retention.delete_old(kept, cutoff, batch)
            deleted[kept.table] += gone
            if gone < batch:
                break
            await asyncio.sleep(pause)
    if any(deleted.values()):
        await store.reclaim_space()
        log.info("retention (%g days): deleted %s", keep_days,
                 ", ".join(f"{count} {table}" for table, count in deleted.items()))
    return deleted


class Pruner:
    """The worker's hourly prune, as a background loop."""

    def __init__(self, store: TaskStore, keep_days: float) -> None:
        self.store = store
        self.keep_days = keep_days

    async def run(self) -> None:
        """Prune, then wait an hour, until cancelled (a failed prune is tried next hour)."""
        while True:
            try:
                await prune(self.store, self.keep_days)
            except Exception as exc:  # the database may be away: the next hour tries again
                log.warning("retention could not prune now: %s", exc)
            await asyncio.sleep(PRUNE_EVERY)
