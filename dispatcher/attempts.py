"""One attempt at a batch of deliveries: send, judge the outcome, record it, schedule the next."""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

from dispatcher.attempt_log import AttemptLog
from dispatcher.channels.base import Channel, Target
from dispatcher.config import DispatchConfig
from dispatcher.errors import ConfigError, DeliveryError, DispatchError, Unreachable
from dispatcher.notice import notice_from_row
from dispatcher.pacing import Batch, Pacer, route_of
from dispatcher.retry import Outcome, outcome_of, retry_after
from store.interface import OutboxStore
from store.plans.outbox import AttemptRecord

log = logging.getLogger("reelhook.dispatcher")


class AttemptRunner:
    """Sends batches through the channels and writes down what happened."""

    def __init__(
        self, outbox: OutboxStore, config: DispatchConfig, pacer: Pacer,
        attempt_log: AttemptLog, channels: Mapping[str, Channel],
    ) -> None:
        self.outbox = outbox
        self.config = config
        self.pacer = pacer
        self.attempt_log = attempt_log
        self.channels = channels
        self.max_batch = {name: channel.max_batch for name, channel in channels.items()}
        # Many deliveries share a destination (one route, many tasks): open each sealed target
        # once, not once per attempt. Bounded; it holds what sends hold in memory anyway.
        self._open = functools.lru_cache(maxsize=1024)(self._open_target)
        self.counts: collections.Counter[str] = collections.Counter()  # outcomes not yet told

    async def attempt(self, batch: Batch) -> None:
        """Send the batch once and hand one attempt record per delivery to the attempt log."""
        started, clock = time.time(), time.monotonic()
        target: Target = {}
        error: DispatchError | None = None
        status_code: int | None = None
        try:
            target = self._target(batch.rows[0])
            status_code = await self._send(batch, target)
        except DispatchError as exc:
            error = exc
        except Exception as exc:  # a bug of ours must not kill the worker: dead, with the error
            log.exception("unexpected error sending %s deliveries %s", batch.channel, batch.ids)
            error = DeliveryError(f"internal error: {type(exc).__name__}")
        duration_ms = (time.monotonic() - clock) * 1000
        records = [
            self._record(row, error, status_code, started, duration_ms, target)
            for row in batch.rows
        ]
        if any(record.outcome == "gone" for record in records):
            # Disabled before the attempt is recorded, so a delivery is never seen dead as gone
            # while its destination still looks live.
            reason = records[0].error or "destination gone"
            given_up = await self.outbox.disable_route(batch.route, reason)
            log.warning("%s destination %s disabled (%s); %d waiting notices dropped with it",
                        batch.channel, batch.rows[0]["label"], reason, given_up)
        self.attempt_log.add(records)

    async def _send(self, batch: Batch, target: Target) -> int | None:
        channel = self.channels.get(batch.channel)
        if channel is None:
            raise ConfigError(f"unknown channel {batch.channel!r}")
        notices = [notice_from_row(row, self.config.video_links) for row in batch.rows]
        try:
            async with asyncio.timeout(self.config.timeout):
                return await channel.send(target, notices)
        except TimeoutError:
            raise Unreachable(f"no answer within {self.config.timeout:g} s", timeout=True) from None

    def _target(self, row: Mapping[str, Any]) -> Target:
        return self._open(row["target"])

    def _open_target(self, sealed: str) -> Target:
        """The destination a sealed target holds (shared between sends: never changed)."""
        try:
            target = json.loads(self.config.decrypt(sealed))
        except ValueError as exc:
            raise ConfigError("destination cannot be decrypted with REELHOOK_SECRET_KEY") from exc
        if not isinstance(target, dict):
            raise ConfigError("destination is malformed")
        return {str(key): str(value) for key, value in target.items()}

    def _record(
        self, row: Mapping[str, Any], error: DispatchError | None, status_code: int | None,
        started: float, duration_ms: float, target: Target,
    ) -> AttemptRecord:
        attempt = int(row["attempts"]) - int(row["cycle_start"]) + 1
        outcome = outcome_of(error, attempt, status_code)
        wait = retry_after(outcome, self.config.schedule, random.uniform(-1.0, 1.0),
                           self.config.jitter)
        if outcome.retry_after is not None:
            self.pacer.hold(route_of(row), time.time() + outcome.retry_after)
        record = AttemptRecord(
            int(row["delivery_id"]), started, duration_ms, _verdict(outcome, wait),
            outcome.status_code, scrub(outcome.error, target),
            None if wait is None else time.time() + wait,
        )
        self._log(row, record, attempt)
        return record

    def _log(self, row: Mapping[str, Any], record: AttemptRecord, attempt: int) -> None:
        """A line per attempt at DEBUG; WARNING for a notice that is given up (dead or gone);
        INFO only counts (`tell_counts`)."""
        self.counts[record.outcome] += 1
        level = logging.DEBUG if record.outcome in ("delivered", "retrying") else logging.WARNING
        if log.isEnabledFor(level):
            log.log(level, "delivery %s (%s to %s, task %s %s) attempt %d: %s%s",
                    row["delivery_id"], row["channel"], row["label"], row["task_id"],
                    row["state"], attempt, record.outcome,
                    f" ({record.error})" if record.error else "")

    def tell_counts(self, owner: str) -> None:
        """One INFO line with the attempts' outcomes since the last, if there were any."""
        if self.counts:
            told = ", ".join(f"{outcome} {n}" for outcome, n in sorted(self.counts.items()))
            log.info("dispatcher worker %s attempts: %s", owner, told)
            self.counts.clear()


def scrub(text: str | None, target: Target) -> str | None:
    """The error text with every part of the destination (URL, secret, address) cut out."""
    if text is None:
        return None
    for value in target.values():
        if value:
            text = text.replace(value, "…")
    return text


def _verdict(outcome: Outcome, wait: float | None) -> str:
    if outcome.succeeded:
        return "delivered"
    if outcome.gone:
        return "gone"
    return "dead" if wait is None else "retrying"
