"""The outbox worker: claims due deliveries, sends them, records each attempt, schedules the next.

Everything it knows lives in the database, so it can stop at any moment: a stopped worker lets
the sends under way finish (each within its timeout), records them and hands the rest of its claims
back; a killed one leaves claims that any worker takes over once their lease runs out. Only the
deliveries in flight at such a crash, or sent in the last `record_delay` seconds and not yet
recorded (dispatcher/attempt_log.py), can be sent twice.

A live worker renews the claims it holds (sending, waiting to send, or waiting to be recorded)
every quarter of the lease, and takes over no one's stale claim until it has reached the database
for a whole renewal period: after an outage longer than the lease, every live worker has renewed
or recorded what it holds by then, so no send whose record was held up goes out a second time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp

from dispatcher.attempt_log import AttemptLog
from dispatcher.attempts import AttemptRunner
from dispatcher.channels.registry import build_channels, url_check
from dispatcher.config import DispatchConfig
from dispatcher.pacing import Batch, Pacer, group_by_route, plan, route_of
from dispatcher.wakeup import Wakeup
from store.errors import StoreUnavailable, WriterStopped
from store.interface import OutboxStore
from store.rows import DueDelivery, SendableDelivery

log = logging.getLogger("reelhook.dispatcher")
# On a stop, a send still going at this share of its timeout counts as hanging: it is handed back
# unrecorded rather than waited for until it fails.
STOP_SHARE = 0.9
LEASE_MARGIN = 1.0  # seconds: recording an attempt after its send
RENEW_SHARE = 0.25  # claims held are renewed every this share of the lease


class Worker:
    """One worker of the outbox; run several (in one or more processes) if you like."""

    def __init__(
        self,
        outbox: OutboxStore,
        config: DispatchConfig,
        *,
        owner: str | None = None,
        session_factory: Callable[[], aiohttp.ClientSession] = aiohttp.ClientSession,
        wakeup: Wakeup | None = None,
    ) -> None:
        self.outbox = outbox
        self.config = config
        self._session_factory = session_factory
        self.owner = owner or f"{os.getpid()}-{secrets.token_hex(4)}"
        self._pacer = Pacer(config.slack_interval)
        # `concurrency` sender coroutines take claimed batches off `_ready` (no task per send);
        # what each is sending, and until when it is waited for on a stop (monotonic).
        self._inflight: dict[int, Batch] = {}
        self._patience: dict[int, float] = {}
        self._senders: list[asyncio.Task[None]] = []
        self._has_ready = asyncio.Event()
        self._stopping = False
        self.wakeup = wakeup or Wakeup()
        self._in_round = False  # between looking for due deliveries and starting their sends
        # Batches claimed and read, waiting for a free slot: a send that ends starts the next at
        # once, and a round claims for many slots in one commit. At most `concurrency` wait, so
        # each waits for at most one send (within its timeout), well inside the lease.
        self._ready: collections.deque[_Claimed] = collections.deque()
        self._runner: AttemptRunner | None = None
        self._attempt_log = AttemptLog(outbox, self.owner, config.record_delay, config.health,
                                       on_retry=self._retry_due)
        self._refill = max(1, config.concurrency // 2)
        self._due = _DueRows([], 0.0)  # due rows read, not yet tried (config.due_reuse)
        self._unsure: set[int] = set()  # claims that may have been committed unseen
        self._reached_since: float | None = None  # the database has answered since (Unix s)
        self._renewed_at = 0.0
        self._told_at = time.monotonic()  # when the attempts' counts were last logged

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self.wakeup.set()

    def _retry_due(self, at: float) -> None:
        """Look again when a retry just recorded falls due, if that is before the next look
        (a retry schedule shorter than the poll interval is kept, not stretched to it)."""
        wait = at - time.time()
        if wait < self.config.poll_interval:
            asyncio.get_running_loop().call_later(max(wait, 0.0), self.wakeup.set)

    async def run(self) -> None:
        """Send due deliveries until cancelled; on the way out, hand back unfinished claims."""
        log.info("dispatcher worker %s started", self.owner)
        try:
            async with self._session_factory() as session:
                channels = build_channels(session, self.config.smtp, self.config.timeout,
                                          url_check(self.config.allow_private,
                                                    self.config.trusted_urls,
                                                    self.config.trusted_hosts))
                runner = self._runner = AttemptRunner(self.outbox, self.config, self._pacer,
                                                      self._attempt_log, channels)
                self._stopping = False  # a run after a stop (a watched loop restarted) sends again
                self._senders = [asyncio.create_task(self._sender(number, runner))
                                 for number in range(self.config.concurrency)]
                try:
                    await self._rounds(runner)
                finally:
                    await self._stop_inflight()
                    runner.tell_counts(self.owner)
        finally:  # also when stopped while it starts (its HTTP session not yet open)
            log.info("dispatcher worker %s stopped", self.owner)

    async def _rounds(self, runner: AttemptRunner) -> None:
        """Look for due deliveries, hand them to the senders, sleep; until cancelled."""
        while True:
            self._in_round = True
            try:
                delay = await self._round(runner)
            except WriterStopped:  # nothing can be recorded: the run ends, watched
                raise
            except StoreUnavailable as exc:  # locked or full for now: look again later
                self._reached_since = None
                log.warning("dispatcher worker %s waits for the store: %s", self.owner, exc)
                delay = self.config.poll_interval
            except Exception:  # any other fault of a round: the next round tries again
                log.exception("dispatcher worker %s: a round failed", self.owner)
                delay = self.config.poll_interval
            finally:
                self._in_round = False
            self._tell_counts(runner)
            await self._sleep(delay)

    async def run_until_idle(self, timeout: float = 30.0) -> None:
        """Run until nothing is due or in flight (for the CLI and tests); then stop cleanly."""
        task = asyncio.create_task(self.run())
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if await self._idle():  # first: a tick with nothing due ends at once
                    return
                await asyncio.sleep(self.config.poll_interval / 4)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _idle(self) -> bool:
        """Nothing due, nothing in flight, and no round under way (whose claims would not be
        in flight yet): checked again after the read, which a round may have overtaken."""
        if self._busy():
            return False
        return await self._nothing_due() and not self._busy()

    def _busy(self) -> bool:
        return bool(self._in_round or self._inflight or self._ready or self._attempt_log.busy
                    or self._unsure)

    async def _nothing_due(self) -> bool:
        next_due = await self.outbox.next_due_at(self.config.lease)
        return next_due is None or next_due > time.time() + self.config.poll_interval

    async def _round(self, runner: AttemptRunner) -> float:
        await self._renew_held(time.time())
        if self._reached_since is None:
            self._reached_since = time.time()
        await self._release_unsure()
        now = time.time()
        stale = self._stale_before(now)
        busy = collections.Counter(batch.route for batch in self._inflight.values())
        busy.update(claimed.batch.route for claimed in self._ready)
        at_cap = sorted(route for route, sends in busy.items()
                      if sends >= self.config.per_destination)
        due = await self._due_rows(now, stale, at_cap)
        seen = due.count
        capacity = self._room()
        chosen = plan(due.groups, runner.max_batch, self._pacer, busy, capacity, now,
                      self.config.per_destination)
        if chosen.batches or capacity == 0:
            due.take(chosen.batches)  # claimed by us now, or found taken: tried either way
        else:  # free slots, yet nothing it holds can start (held back): the next round reads
            self._due = _DueRows([], 0.0)
        ids = [i for batch in chosen.batches for i in batch.ids]
        claimed, rows = await self._claim(ids, now, stale) if ids else ([], [])
        full = {int(row["delivery_id"]): row for row in rows}
        for batch in chosen.batches:
            mine = tuple(full[i] for i in batch.ids if i in full)
            if mine:
                self._ready.append(_Claimed(Batch(batch.route, batch.channel, mine), now))
        if self._ready:
            self._has_ready.set()
        if missing := [i for i in claimed if i not in full]:
            await self.outbox.release(missing, self.owner)
        return await self._delay(chosen.wake_at, chosen.held, seen, now)

    @property
    def _renew_every(self) -> float:
        return RENEW_SHARE * self.config.lease

    def _stale_before(self, now: float) -> float:
        """Claims made before this time are of workers that are gone; none is, until this
        worker has reached the database for a renewal period (and a margin) since it started or
        since an outage: live holders have renewed or recorded their claims by then."""
        reached = self._reached_since
        if reached is None or now - reached < self._renew_every + LEASE_MARGIN:
            return 0.0
        return now - self.config.lease

    async def _renew_held(self, now: float) -> None:
        """Renew every claim this worker holds, once per renewal period; claims taken over
        meanwhile (after an outage of this worker alone) are dropped from those waiting."""
        if now - self._renewed_at < self._renew_every:
            return
        held = [i for claimed in self._ready for i in claimed.batch.ids]
        held += [i for batch in self._inflight.values() for i in batch.ids]
        held += self._attempt_log.held_ids()
        if held:
            kept = set(await self.outbox.renew(sorted(set(held)), self.owner, now))
            self._keep_ready(kept, now)
        self._renewed_at = now

    def _keep_ready(self, kept: set[int], now: float) -> None:
        """Waiting batches: renewed at `now`, without the deliveries no longer held."""
        for claimed in list(self._ready):
            rows = tuple(row for row in claimed.batch.rows if int(row["delivery_id"]) in kept)
            if rows:
                claimed.batch = dataclasses.replace(claimed.batch, rows=rows)
                claimed.at = now
            else:
                self._ready.remove(claimed)

    async def _due_rows(self, now: float, stale: float, full: list[str]) -> _DueRows:
        """The due deliveries left from the last read while it is fresh, else a new read,
        without the routes at their fair share (`full`)."""
        if not self._due.count or now - self._due.read_at > self.config.due_reuse:
            rows = await self.outbox.due(now, stale, self.config.claim_limit, full)
            self._due = _DueRows(await self._live(rows, now, stale), now)
        return self._due

    async def _claim(
        self, ids: list[int], now: float, stale: float
    ) -> tuple[list[int], list[SendableDelivery]]:
        """Claim the deliveries and read those taken in full (destination, task): a round
        chooses among up to claim_limit due ones from light rows, but starts at most
        `capacity` sends."""
        self._attempt_log.write_now()  # in the writer's queue with the claim: one commit
        try:
            return await self.outbox.claim_rows(ids, self.owner, now, stale)
        except asyncio.CancelledError:
            # Stopped while the claim was being committed: it may have gone through, and nobody
            # would send those deliveries until the lease ran out. Hand them back (after it).
            await self.outbox.release(ids, self.owner)
            raise
        except Exception:
            # The connection may have died after the commit but before its answer: the claim
            # may hold. Hand the ids back (only our own claims are released) before the next.
            self._unsure.update(ids)
            raise

    async def _release_unsure(self) -> None:
        """Hand back deliveries whose claim may have gone through unseen."""
        if self._unsure:
            unsure = sorted(self._unsure)
            await self.outbox.release(unsure, self.owner)
            self._unsure.difference_update(unsure)

    async def _live(
        self, rows: list[DueDelivery], now: float, stale: float
    ) -> list[DueDelivery]:
        """The rows whose route works and whose destination was not paused or deleted;
        deliveries to a route disabled meanwhile die with it, those of a stopped destination
        with the reason."""
        dead = {route_of(row): row["route_disabled"] for row in rows if row["route_disabled"]}
        for route, reason in dead.items():
            await self.outbox.disable_route(route, reason)
        stopped: dict[str, list[int]] = {}
        for row in rows:
            if (why := row["stopped"]) and route_of(row) not in dead:
                stopped.setdefault(why, []).append(int(row["delivery_id"]))
        for reason, ids in stopped.items():
            await self.outbox.give_up(ids, reason, now, stale)
        return [row for row in rows if route_of(row) not in dead and not row.get("stopped")]

    def _room(self) -> int:
        """How many more batches may be claimed: free slots and free places to wait."""
        return 2 * self.config.concurrency - len(self._inflight) - len(self._ready)

    async def _sender(self, number: int, runner: AttemptRunner) -> None:
        """One of the fixed set of senders: send claimed batches, one at a time, until the
        worker stops. One claimed so long ago that its lease could run out during the send is
        left to the lease (any worker takes it over then)."""
        while not self._stopping:
            if not self._ready:
                self._has_ready.clear()
                await self._has_ready.wait()
                continue
            claimed = self._ready.popleft()
            now = time.time()
            if lease_covers_send(claimed.at, now, self.config):
                await self._send(number, runner, claimed.batch, now)

    async def _send(self, number: int, runner: AttemptRunner, batch: Batch, now: float) -> None:
        if runner.max_batch.get(batch.channel, 1) > 1:
            self._pacer.sent(batch.route, now)
        self._inflight[number] = batch
        self._patience[number] = time.monotonic() + STOP_SHARE * self.config.timeout
        try:
            await runner.attempt(batch)
        except asyncio.CancelledError:
            if _cancelled_here():  # the worker stops
                raise
            # A cancellation from inside the send (a library's) ends that send only; its claim
            # is left to the lease, as for any crashed send, and the sender goes on.
            log.error("dispatcher send was cancelled from within; left to its lease")
        except Exception:
            log.exception("dispatcher send crashed; left to its lease")
        finally:
            del self._inflight[number], self._patience[number]
        # A round reads up to claim_limit due deliveries and claims in one commit: one round per
        # finished send made the reads and commits cost more than the sends. It waits until half
        # the slots could be refilled (or for the next look, at most poll_interval away).
        if self._room() >= self._refill:
            self.wakeup.set()

    async def _delay(self, wake_at: float | None, held: int, seen: int, now: float) -> float:
        delay = self.config.poll_interval
        if wake_at is not None:
            delay = min(delay, wake_at - now)
        if seen >= self.config.claim_limit and held == 0:
            return 0.0
        if held == 0:
            next_due = await self.outbox.next_due_at()
            if next_due is not None:
                delay = min(delay, next_due - now)
        return max(delay, 0.0)

    def _tell_counts(self, runner: AttemptRunner) -> None:
        if time.monotonic() - self._told_at >= self.config.count_every:
            runner.tell_counts(self.owner)
            self._told_at = time.monotonic()

    async def _sleep(self, delay: float) -> None:
        await self.wakeup.wait(delay)

    async def _stop_inflight(self) -> None:
        """Let sends under way finish and be recorded (with every ended send's record still
        waiting): one cancelled after its request arrived would be sent again. Hand back the
        claimed ones not started and those still going near their timeout (hanging)."""
        waiting = [i for claimed in self._ready for i in claimed.batch.ids]
        self._ready.clear()  # a send that ends now must not start them
        self._stopping = True
        self._has_ready.set()  # idle senders see the stop and end
        wait = max(self._patience.values(), default=0.0) - time.monotonic()
        try:
            if self._inflight and wait > 0:  # a sender ends once its send is recorded
                await asyncio.wait(self._senders, timeout=wait)
        finally:
            hanging = dict(self._inflight)
            for sender in self._senders:
                sender.cancel()
            await asyncio.gather(*self._senders, return_exceptions=True)
            await self._attempt_log.drain(max(wait, LEASE_MARGIN))
            held = waiting + [i for batch in hanging.values() for i in batch.ids]
            if held:
                await self._hand_back(held)

    async def _hand_back(self, ids: list[int]) -> None:
        try:
            await self.outbox.release(ids, self.owner)
        except WriterStopped as exc:  # their claims lapse with the lease, as after a crash
            log.error("could not hand back %d deliveries: %s", len(ids), exc)
            return
        log.info("handed back %d unfinished deliveries", len(ids))


def _cancelled_here() -> bool:
    """Whether this task was asked to stop (rather than handed a stray CancelledError)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def lease_covers_send(claimed_at: float, now: float, config: DispatchConfig) -> bool:
    """Whether a send started now ends (within its timeout, and a second to record it) before
    a claim made at `claimed_at` runs out and another worker may take the delivery over."""
    return now + config.timeout + LEASE_MARGIN < claimed_at + config.lease


@dataclasses.dataclass(slots=True)
class _Claimed:
    """A batch claimed (at `at`, Unix seconds) and read, waiting for a free slot."""

    batch: Batch
    at: float


class _DueRows:
    """Due deliveries from one read, grouped by route; rounds take batches off the front."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], read_at: float) -> None:
        self.groups = group_by_route(rows)
        self.read_at = read_at
        self.count = len(rows)

    def take(self, batches: list[Batch]) -> None:
        """Drop the rows of these batches (`plan` builds each from the front of its group)."""
        for batch in batches:
            del self.groups[batch.route][: len(batch.rows)]
            self.count -= len(batch.rows)
