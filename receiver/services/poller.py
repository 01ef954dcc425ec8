"""Polling, the safety net: one mechanism for providers without callbacks and for lost callbacks.

Every sent, unfinished task of a provider that can be asked is polled through its Get Task, soon
at first and then less often up to a ceiling, until an overall deadline fails it with `timeout`.
For providers with callbacks polling starts only once no callback has come for the grace period.
Polled states go through the same event recording, state machine and notices as callbacks; a
poll that says nothing new is not recorded. The schedule lives in the database, so it survives
restarts. Time-outs and polled states go through the task service's one state-change path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from receiver.providers.base import Provider, ask_about
from receiver.providers.errors import ProviderError
from receiver.settings import Settings
from store import EventIn, Observation, WriterStopped
from store.rows import DuePoll
from store.states import FAILED

if TYPE_CHECKING:
    from receiver.services.tasks import TaskService

log = logging.getLogger("reelhook.polling")
BATCH = 50
MAX_TICK = 1.0


def poll_interval(attempts: int, settings: Settings) -> float:
    """Seconds to the next poll after `attempts` polls: doubling from the first, to the ceiling."""
    return float(min(settings.poll_initial * 2.0 ** min(attempts, 30), settings.poll_max_interval))


class Poller:
    """The background loop that polls due tasks."""

    def __init__(self, service: TaskService, settings: Settings) -> None:
        self.service = service
        self.settings = settings

    async def run(self) -> None:
        """Poll due tasks until cancelled."""
        tick = min(MAX_TICK, self.settings.poll_initial)
        while True:
            try:
                await self.poll_due()
            except WriterStopped:  # nothing can be recorded any more: the loop ends, watched
                raise
            except Exception:
                log.exception("polling failed; trying again")
            await asyncio.sleep(tick)

    async def poll_due(self) -> int:
        """One pass: schedule new tasks, time out late ones, ask the provider about due ones;
        returns how many tasks this pass took."""
        providers = self.service.providers
        names = [name for name, p in providers.items() if p.pollable]
        now = time.time()
        # Claimed under a lease: with several processes each due poll is asked by one of them.
        lease = 2 * self.settings.provider_timeout + 5.0
        polls, owner = self.service.store.polls, self.service.queue.owner
        rows = await polls.claim_due(now, names, BATCH, owner, lease)
        try:
            await asyncio.gather(
                *(self._poll_one(row, providers[row["provider"]], now) for row in rows)
            )
        except asyncio.CancelledError:  # stopping: another process (or the next start) asks
            ids = [row["id"] for row in rows]
            await asyncio.shield(polls.release(ids, owner, time.time()))
            raise
        return len(rows)

    async def _poll_one(self, row: DuePoll, provider: Provider, now: float) -> None:
        polls = self.service.store.polls
        settings = self.settings
        deadline = row["deadline_at"] or now + settings.task_deadline
        if row["next_poll_at"] is None:
            first = (
                settings.callback_grace if provider.supports_callbacks else settings.poll_initial
            )
            await polls.schedule(row["id"], min(now + first, deadline), 0, deadline)
            return
        if now >= deadline:
            await self._time_out(row)
            return
        attempts = row["poll_attempts"] or 0
        quiet_since = row["last_event_at"] or 0.0
        if (
            provider.supports_callbacks
            and attempts == 0
            and now - quiet_since < settings.callback_grace
        ):
            await polls.schedule(
                row["id"], min(quiet_since + settings.callback_grace, deadline), 0
            )
            return
        await self._ask(row, provider)
        next_at = time.time() + poll_interval(attempts, settings)
        await polls.schedule(row["id"], min(next_at, deadline), attempts + 1)

    async def _ask(self, row: DuePoll, provider: Provider) -> None:
        try:
            report = await ask_about(provider, self.service.http, row["provider_task_id"])
        except ProviderError as exc:
            log.warning("polling %s at %s failed: %s", row["id"], provider.name, exc)
            return
        except Exception:  # a bug of ours must not skip the backoff: the poll is rescheduled
            log.exception("polling %s at %s failed unexpectedly", row["id"], provider.name)
            return
        try:
            # Recorded only if it moves the task: the store decides in the same transaction.
            await self.service.apply_report(row["id"], report, "poll")
        except Exception:
            log.exception("recording the poll of %s at %s failed", row["id"], provider.name)

    async def _time_out(self, row: DuePoll) -> None:
        seconds = self.settings.task_deadline
        message = f"timeout: {row['provider']} gave no final state within {seconds:g} s"
        event = EventIn("poll:timeout", "poll", Observation(FAILED, error=message))
        await self.service.change(row["id"], event)

