"""Polling, the safety net: one mechanism for providers without callbacks and for lost callbacks.

Every sent, unfinished task of a provider that can be asked is polled through its Get Task, soon
at first and then less often up to a ceiling, until an overall deadline fails it with `timeout`.
For providers with callbacks polling starts only once no callback has come for the grace period.
Polled states go through the same event recording, state machine and notices as callbacks; a
poll that says nothing new is not recorded. The schedule lives in the database, so it survives
restarts. Wave's terminal callbacks are confirmed here too, with the same Get Task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from receiver import keys
from receiver.providers.base import Provider, Report
from receiver.providers.errors import ProviderError
from receiver.settings import Settings
from store import EventIn, Observation
from store.interface import SLOTS
from store.states import FAILED, is_terminal

if TYPE_CHECKING:
    from receiver.tasks import TaskService

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
            except Exception:
                log.exception("polling failed; trying again")
            await asyncio.sleep(tick)

    async def poll_due(self) -> None:
        """One pass: schedule new tasks, time out late ones, ask the provider about due ones."""
        providers = self.service.providers
        names = [name for name, p in providers.items() if p.pollable]
        now = time.time()
        lease = 2 * self.settings.provider_timeout + 5.0
        rows = await self.service.store.polling.claim_due(
            now, names, BATCH, self.service.queue.owner, lease
        )
        await asyncio.gather(
            *(self._poll_one(row, providers[row["provider"]], now) for row in rows)
        )

    async def _poll_one(self, row: dict[str, Any], provider: Provider, now: float) -> None:
        polling = self.service.store.polling
        settings = self.settings
        deadline = row["deadline_at"] or now + settings.task_deadline
        if row["next_poll_at"] is None:
            first = (
                settings.callback_grace if provider.supports_callbacks else settings.poll_initial
            )
            await polling.schedule(row["id"], min(now + first, deadline), 0, deadline)
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
            await polling.schedule(
                row["id"], min(quiet_since + settings.callback_grace, deadline), 0
            )
            return
        await self._ask(row, provider)
        next_at = time.time() + poll_interval(attempts, settings)
        await polling.schedule(row["id"], min(next_at, deadline), attempts + 1)

    async def _ask(self, row: dict[str, Any], provider: Provider) -> None:
        try:
            report = await provider.fetch(self.service.http, row["provider_task_id"])
        except ProviderError as exc:
            log.warning("polling %s at %s failed: %s", row["id"], provider.name, exc)
            return
        except Exception as exc:  # a bug of ours must not skip the backoff: the poll is rescheduled
            log.error("polling %s at %s failed unexpectedly: %s", row["id"], provider.name,
                      type(exc).__name__)
            return
        try:
            # Recorded only if it moves the task: the store decides in the same transaction.
            await self.service.apply_report(row["id"], report, "poll")
        except Exception as exc:
            log.error("recording the poll of %s at %s failed: %s", row["id"], provider.name,
                      type(exc).__name__)

    async def _time_out(self, row: dict[str, Any]) -> None:
        seconds = self.settings.task_deadline
        message = f"timeout: {row['provider']} gave no final state within {seconds:g} s"
        event = EventIn("poll:timeout", "poll", Observation(FAILED, error=message))
        await self.service.store.record_event(row["id"], event)
        self.service.queue.wake()


async def apply_confirmed(
    service: TaskService, task: dict[str, Any], provider: Provider, report: Report
) -> bool:
    """Record a callback; a terminal one only as a hint, then apply what Get Task says."""
    if report.status is None or not is_terminal(report.status):
        return await service.apply_report(task["id"], report, "callback")
    hint = replace(report, status=None, progress=None, video_url=None, error=None)
    if not await service.apply_report(task["id"], hint, "callback"):
        return False
    provider_task_id = task["provider_task_id"] or report.provider_task_id
    if not provider_task_id:
        return True
    try:
        truth = await provider.fetch(service.http, provider_task_id)
    except ProviderError as exc:
        log.warning("confirming %s at %s failed (polling will): %s", task["id"], provider.name, exc)
        return True
    await service.apply_report(task["id"], truth, "confirm")
    return True


async def loops_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: fail sends cut off by the last stop, then run the poller and the submission
    queue in the background until the app stops."""
    service = app[keys.TASKS]
    settings = app[keys.SETTINGS]
    if not settings.background:
        yield
        await service.queue.close()
        return
    await service.queue.fail_interrupted()
    # On PostgreSQL a slot freed in any process wakes this queue at once (LISTEN/NOTIFY).
    unsubscribe = service.store.subscribe(SLOTS, lambda _: service.queue.wake())
    loop = asyncio.get_running_loop()
    jobs = [
        loop.create_task(Poller(service, settings).run(), name="reelhook-poller"),
        loop.create_task(service.queue.run(), name="reelhook-submit-queue"),
    ]
    yield
    unsubscribe()
    for job in jobs:
        job.cancel()
    for job in jobs:
        with contextlib.suppress(asyncio.CancelledError):
            await job
    await service.queue.close()
