"""The keeper: runs the durable copy jobs of kept videos (claimed under a lease, retried with
back-off, failed with the reason when no copy can be made before the provider's link dies) and
deletes copies older than REELHOOK_VIDEO_KEEP_DAYS. It runs in `serve`, `worker` and `tick`."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from dispatcher.wakeup import Wakeup
from receiver.metrics import VIDEO_COPIES, VIDEO_STORE_UP
from receiver.services.videos.copying import Copier, CopyFailed, CopyLater
from receiver.services.videos.storage import VideoStoreError
from store import TaskStore, WriterStopped
from store.models import iso_from_epoch
from store.rows import VideoCopy

log = logging.getLogger("reelhook.videos")
BATCH = 4  # copies made at once by one keeper
BACKOFF = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
MAX_ATTEMPTS = 12
PRUNE_EVERY = 3600.0
TICK = 1.0
# A claim outlives the longest copy (REELHOOK_VIDEO_TIMEOUT) by this much, so a live keeper never
# loses it; a killed one's copy is taken over this long after its time-out.
LEASE_MARGIN = 10.0


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones."""
    return BACKOFF[min(attempts, len(BACKOFF) - 1)]


class VideoKeeper:
    """Makes the due copies of one database's kept videos."""

    def __init__(
        self,
        store: TaskStore,
        copier: Copier,
        owner: str,
        *,
        timeout: float,
        keep_days: float | None = None,
        wakeup: Wakeup | None = None,
    ) -> None:
        self.store = store
        self.wakeup = wakeup or Wakeup()  # set when a copy is queued: it starts at once
        self.copier = copier
        self.owner = owner
        self.timeout = timeout
        self.keep_days = keep_days
        self.store_trouble: str | None = None  # the video store's last failure, until it works
        self.counts = {"kept": 0, "failed": 0, "retried": 0, "deleted": 0}
        self._pruned_at = 0.0

    async def run(self) -> None:
        """Copy due videos (and prune old copies) until cancelled."""
        while True:
            try:
                while await self.keep_due():
                    pass
                await self.prune_if_due()
            except WriterStopped:  # nothing can be recorded any more: the loop ends, watched
                raise
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # a stop that arrived as an error
                    raise asyncio.CancelledError from None
                log.exception("keeping videos failed; trying again")
            await self.wakeup.wait(TICK)

    async def keep_due(self) -> int:
        """One pass: claim due copies and make them; returns how many were taken."""
        lease = self.timeout + LEASE_MARGIN
        due = await self.store.videos.claim_copies(time.time(), BATCH, self.owner, lease)
        try:
            await asyncio.gather(*(self._copy(row) for row in due))
        except asyncio.CancelledError:
            await asyncio.shield(self.store.videos.release([row["id"] for row in due], self.owner))
            raise
        return len(due)

    async def prune_if_due(self, now: float | None = None) -> int:
        """Delete kept copies older than REELHOOK_VIDEO_KEEP_DAYS (at most once an hour)."""
        moment = time.time() if now is None else now
        if self.keep_days is None or moment - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = moment
        cutoff = iso_from_epoch(moment - self.keep_days * 86400)
        deleted = 0
        for row in await self.store.videos.kept_before(cutoff, 500):
            if row["video_key"] is not None:
                await self.copier.store.delete(row["video_key"])
            reason = f"deleted after {self.keep_days:g} days (REELHOOK_VIDEO_KEEP_DAYS)"
            deleted += await self.store.videos.mark_deleted(row["id"], reason)
        self._count("deleted", deleted)
        return deleted

    def _count(self, outcome: str, number: int = 1) -> None:
        self.counts[outcome] += number
        VIDEO_COPIES.labels(outcome).inc(number)

    async def _copy(self, row: VideoCopy) -> None:
        task_id, expires_at = row["id"], row["video_expires_at"]
        if expires_at is not None and time.time() >= expires_at:
            await self._fail(task_id, f"the provider's link expired at {_iso(expires_at)}"
                                      " before a copy could be made")
            return
        try:
            copy = await asyncio.wait_for(
                self.copier.copy(task_id, row["video_url"]), self.timeout
            )
        except CopyFailed as exc:
            await self._fail(task_id, str(exc))
        except CopyLater as exc:
            await self._later(row, str(exc), exc.retry_after)
        except TimeoutError:
            await self._later(row, f"the copy took longer than {self.timeout:g} s"
                                   " (REELHOOK_VIDEO_TIMEOUT)", None)
        except VideoStoreError as exc:
            self.store_trouble = str(exc)
            VIDEO_STORE_UP.set(0)
            log.error("video store: %s", exc)
            await self._later(row, str(exc), None)
        else:
            self.store_trouble = None
            VIDEO_STORE_UP.set(1)
            if await self.store.videos.keep(task_id, self.owner, copy):
                self._count("kept")
                log.info("kept the video of %s (%d bytes)", task_id, copy.bytes)

    async def _later(self, row: VideoCopy, reason: str, retry_after: float | None) -> None:
        attempts = int(row["video_attempts"]) + 1
        next_at = time.time() + max(retry_after or 0.0, backoff(attempts - 1))
        expires_at = row["video_expires_at"]
        if attempts >= MAX_ATTEMPTS:
            await self._fail(row["id"], f"gave up after {attempts} tries: {reason}")
        elif expires_at is not None and next_at >= expires_at:
            await self._fail(row["id"], f"{reason}; the provider's link expires at"
                                        f" {_iso(expires_at)}, before the next try")
        elif await self.store.videos.retry(row["id"], self.owner, reason, next_at):
            self._count("retried")
            log.warning("copying the video of %s failed for now: %s", row["id"], reason)

    async def _fail(self, task_id: str, reason: str) -> None:
        if await self.store.videos.fail(task_id, self.owner, reason):
            self._count("failed")
            log.warning("no copy of the video of %s: %s", task_id, reason)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
