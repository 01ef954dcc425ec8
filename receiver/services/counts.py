"""The counts /metrics and the cost pages read (store/plans/stats.py) are kept as rows of
deltas by the database's triggers; this loop folds them into their totals every few seconds,
so a read sums a few rows, never the history."""

from __future__ import annotations

import asyncio
import logging
import time

from store.interface import TaskStore
from store.plans.stats import FOLD_BATCH

log = logging.getLogger("reelhook.counts")
FOLD_EVERY = 10.0  # seconds
PAUSE = 0.01  # seconds between folds while more wait, for the writes queued behind them


async def fold_all(store: TaskStore, deadline: float | None = None) -> int:
    """Fold until no delta waits (or the monotonic `deadline` passes); how many were."""
    folded = 0
    while True:
        moved = await store.stats.fold()
        folded += moved
        if moved < FOLD_BATCH or (deadline is not None and time.monotonic() > deadline):
            return folded
        await asyncio.sleep(PAUSE)


class CountFolder:
    """The fold, as a background loop of the notice worker's process."""

    def __init__(self, store: TaskStore, every: float = FOLD_EVERY) -> None:
        self.store = store
        self.every = every

    async def run(self) -> None:
        """Fold, then wait, until cancelled (a failed fold is tried at the next turn)."""
        while True:
            try:
                await fold_all(self.store)
            except Exception as exc:  # the database may be away: the next turn tries again
                log.warning("counts could not be folded now: %s", exc)
            await asyncio.sleep(self.every)
