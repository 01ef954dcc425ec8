"""The attempts of ended sends, written down together.

A send frees its slot as soon as it ends; its attempt records wait here until the worker's next
claim (the two land in one commit) or `delay` seconds (DispatchConfig.record_delay), whichever
comes first. Until they are committed the deliveries stay claimed by this worker, so none is
tried again before its attempt is recorded; a crash in that window leaves them to their lease,
like sends still in flight. One commit per sent delivery cost about as much CPU as the send.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from store.errors import StoreUnavailable, WriterStopped
from store.interface import OutboxStore
from store.models import NO_POLICY, HealthPolicy
from store.plans.outbox import AttemptRecord

log = logging.getLogger("reelhook.dispatcher")
FIRST_RETRY_WAIT = 0.05
MAX_RETRY_WAIT = 1.0


class AttemptLog:
    """Attempt records waiting to be written, and the writes under way."""

    def __init__(
        self, outbox: OutboxStore, owner: str, delay: float, policy: HealthPolicy = NO_POLICY,
        on_retry: Callable[[float], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.owner = owner
        self.policy = policy
        self.delay = delay
        # Told, once a write is committed, when its first retry is due (a Unix time): the
        # worker chose its sleep before the retry was written, and would sleep past it.
        self.on_retry = on_retry
        self._waiting: list[list[AttemptRecord]] = []  # one list per ended send
        self._timer: asyncio.TimerHandle | None = None
        self._writes: dict[asyncio.Task[None], list[int]] = {}  # each write: its deliveries
        self._retries: dict[asyncio.Task[None], float] = {}  # each write: its first retry

    @property
    def busy(self) -> bool:
        """Records wait or are being written."""
        return bool(self._waiting or self._writes)

    def held_ids(self) -> list[int]:
        """The deliveries whose records wait or are being written (still claimed meanwhile)."""
        waiting = [record.delivery_id for records in self._waiting for record in records]
        return waiting + [i for ids in self._writes.values() for i in ids]

    def add(self, records: list[AttemptRecord]) -> None:
        """Keep these records for the next write (at most `delay` seconds away)."""
        if not records:
            return
        self._waiting.append(records)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self.write_now)

    def write_now(self) -> None:
        """Start writing every waiting record (the worker calls it just before a claim)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiting:
            return
        sends, self._waiting = self._waiting, []
        task = asyncio.create_task(write_attempts(self.outbox, sends, self.owner, self.policy))
        self._writes[task] = [record.delivery_id for records in sends for record in records]
        retries = [record.next_attempt_at for records in sends for record in records
                   if record.next_attempt_at is not None]
        if retries:
            self._retries[task] = min(retries)
        task.add_done_callback(self._written)

    async def drain(self, timeout: float) -> None:
        """Write every waiting record and wait up to `timeout` seconds for all writes to end.
        Failed writes are logged, and one still retrying then is given up: their deliveries
        are left to the lease, as after a crash."""
        self.write_now()
        if not self._writes:
            return
        _, left = await asyncio.wait(set(self._writes), timeout=timeout)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.pop(task, None)
        first_retry = self._retries.pop(task, None)
        if task.cancelled():
            log.error("attempts left unrecorded at stop; their deliveries wait for the lease")
        elif (error := task.exception()) is not None:
            log.error("recording attempts failed; their deliveries wait for the lease: %s", error)
        elif first_retry is not None and self.on_retry is not None:
            self.on_retry(first_retry)


async def write_attempts(
    outbox: OutboxStore, sends: list[list[AttemptRecord]], owner: str,
    policy: HealthPolicy = NO_POLICY,
) -> None:
    """Record the attempts of these sends, one writer job per send (committed together, but a
    send whose records fail spoils only itself), trying again while the database is busy (a
    send left unrecorded would go out again once its lease ran out). A dead writer is raised
    at once; a bug of ours is raised after the other sends are recorded: retrying it once a
    second forever would only hide it."""
    wait = FIRST_RETRY_WAIT
    failed: list[BaseException] = []
    while sends:
        results = await asyncio.gather(
            *(outbox.finish(records, owner, policy) for records in sends),
            return_exceptions=True,
        )
        busy = [records for records, result in zip(sends, results, strict=True)
                if isinstance(result, StoreUnavailable) and not isinstance(result, WriterStopped)]
        for result in results:
            if isinstance(result, WriterStopped):
                raise result
            if isinstance(result, BaseException) and not isinstance(result, StoreUnavailable):
                failed.append(result)
        sends = busy
        if sends:
            log.warning("recording deliveries %s failed (busy); trying again in %g s",
                        [record.delivery_id for records in sends for record in records], wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, MAX_RETRY_WAIT)
    if failed:
        raise failed[0]
