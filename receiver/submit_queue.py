"""The submission queue: a per-provider cap on tasks in flight, and resends after busy answers.

A new task takes a slot of its provider when one is free and no earlier task is waiting; otherwise
it stays `queued` here, its request sealed (encrypted) in the database, until a slot frees. A 429
or concurrency answer holds the task the same way and tries again later, instead of failing it.
Providers whose submit call lasts until the video is done (1min.ai) are sent in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from dispatcher.wakeup import Wakeup
from receiver.providers.base import Provider, TaskRequest
from receiver.request_forms import sealed_payload
from receiver.secrets import SecretBox
from receiver.settings import Settings
from store import EventIn, EventOutcome, Observation, WriterStopped
from store.interface import SubmitSlotsStore
from store.states import FAILED

log = logging.getLogger("reelhook.queue")
SendFn = Callable[[str, Provider, TaskRequest, str, str | None], Awaitable[None]]
ChangeFn = Callable[[str, EventIn], Awaitable[EventOutcome]]
MAX_TICK = 1.0


class SubmitQueue:
    """Decides when each task is sent, and sends held ones as slots free."""

    def __init__(
        self,
        slots: SubmitSlotsStore,
        secrets: SecretBox,
        settings: Settings,
        providers: Mapping[str, Provider],
        send: SendFn,
        change: ChangeFn,
        wakeup: Wakeup,
    ) -> None:
        self.slots = slots
        self.secrets = secrets
        self.settings = settings
        self.providers = providers
        self._send = send
        self._change = change  # the task service's one state-change path
        self._wakeup = wakeup
        self._background: set[asyncio.Future[None]] = set()
        # Busy refusals per task in this process: the backoff's exponent (the deadline itself
        # counts from the task's creation, in the database).
        self.busy_attempts: dict[str, int] = {}

    async def offer(
        self, task_id: str, provider: Provider, request: TaskRequest, secret: str, key: str | None
    ) -> None:
        """Send the new task now if its provider has a free slot, else hold it."""
        if await self.slots.claim_slot(task_id, provider.name, self.cap(provider)):
            await self.dispatch(task_id, provider, request, secret, key)
        else:
            log.info("holding %s: %s has no free slot", task_id, provider.name)
            await self.hold(task_id, request, secret, key, 0.0)

    async def hold(
        self,
        task_id: str,
        request: TaskRequest,
        secret: str,
        key: str | None,
        delay: float | None,
    ) -> None:
        """Keep the task queued here and try again after `delay` seconds (None: the default)."""
        wait = self.settings.poll_initial if delay is None else delay
        await self.slots.hold(task_id, self.seal(request, secret, key), time.time() + wait)

    def seal(self, request: TaskRequest, secret: str, key: str | None) -> str:
        """The request, its callback secret and key, encrypted for a later send."""
        payload = {"request": sealed_payload(request), "secret": secret, "key": key}
        return self.secrets.encrypt(json.dumps(payload))

    def spawn(self, work: Awaitable[None]) -> None:
        """Run `work` in the background; it is cancelled when the queue closes."""
        job = asyncio.ensure_future(work)
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    def busy_wait(self, task_id: str, retry_after: float | None) -> float:
        """Seconds before resending a submission the provider refused as busy: doubling from
        REELHOOK_POLL_INITIAL to REELHOOK_POLL_MAX_INTERVAL, at least its Retry-After."""
        attempts = self.busy_attempts.get(task_id, 0)
        self.busy_attempts[task_id] = attempts + 1
        return busy_backoff(attempts, retry_after, self.settings)

    def wake(self) -> None:
        """A slot may have freed: look at held tasks now."""
        self._wakeup.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Fail sends cut off by the last stop, then send held tasks in the background until the
        block ends; background sends still going are cancelled (failed on the next start)."""
        await self.fail_interrupted()
        job = asyncio.get_running_loop().create_task(self.run(), name="reelhook-submit-queue")
        try:
            yield
        finally:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
            await self.close()

    async def run(self) -> None:
        """Send held tasks as slots free, until cancelled."""
        tick = min(MAX_TICK, self.settings.poll_initial)
        while True:
            await self._wakeup.wait(tick)
            try:
                await self.release_held()
            except WriterStopped as exc:  # nothing can be recorded any more; /healthz says why
                log.critical("the submit queue stops: %s", exc)
                return
            except Exception:
                log.exception("sending held tasks failed; trying again")

    async def release_held(self) -> None:
        """Send every held task whose provider has a free slot, oldest first."""
        for row in await self.slots.held(time.time()):
            provider = self.providers.get(row["provider"])
            if provider is None:
                continue
            if not await self.slots.claim_slot(
                row["id"], provider.name, self.cap(provider), provider.idempotent_submit
            ):
                continue
            payload = json.loads(self.secrets.decrypt(row["held_request"]))
            request = TaskRequest(**payload["request"])
            await self.dispatch(row["id"], provider, request, payload["secret"], payload["key"])

    async def fail_interrupted(self) -> int:
        """On start: tasks whose send was cut off by a stop are sent again where the provider
        honours our Idempotency-Key (Wave: no second task); otherwise their outcome is unknown
        and they are failed. Returns how many were failed."""
        rows = await self.slots.interrupted()
        failed = 0
        for row in rows:
            provider = self.providers.get(row["provider"])
            resendable = row["sealed"] and provider is not None and provider.idempotent_submit
            if resendable and await self.slots.resend(row["id"]):
                log.info("sending %s to %s again after a stop", row["id"], row["provider"])
                self.wake()
                continue
            failed += 1
            message = (
                f"reelhook stopped while the call to {row['provider']} was in flight; its outcome"
                " is unknown, so the task was failed: submit it again"
            )
            event = EventIn("submit:interrupted", "submit", Observation(FAILED, error=message))
            await self._change(row["id"], event)
        return failed

    async def close(self) -> None:
        """Cancel background sends; their tasks are failed on the next start."""
        for job in list(self._background):
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def dispatch(
        self, task_id: str, provider: Provider, request: TaskRequest, secret: str, key: str | None
    ) -> None:
        """Send a task whose slot is claimed (in the background for 1min.ai's long call)."""
        sending = self._send(task_id, provider, request, secret, key or f"reelhook-{task_id}")
        if provider.background_submit:
            self.spawn(self._finish(task_id, provider, sending))
            return
        await self._finish(task_id, provider, sending)

    async def _finish(self, task_id: str, provider: Provider, sending: Awaitable[None]) -> None:
        try:
            await sending
        except Exception as exc:  # a bug of ours must not leave the task queued, holding its slot
            log.exception("sending %s to %s failed unexpectedly", task_id, provider.name)
            await self._fail_unexpected(task_id, provider, exc)
        finally:
            self.wake()

    async def _fail_unexpected(self, task_id: str, provider: Provider, exc: Exception) -> None:
        message = f"{provider.name}: the send failed unexpectedly ({type(exc).__name__})"
        event = EventIn("submit:failed", "submit", Observation(FAILED, error=message))
        try:
            await self._change(task_id, event)
        except Exception:
            log.exception("recording the failed send of %s failed", task_id)

    def cap(self, provider: Provider) -> int:
        """The provider's in-flight cap (0: none)."""
        return int(self.settings.max_in_flight.get(provider.name, 0))


def busy_backoff(attempts: int, retry_after: float | None, settings: Settings) -> float:
    """The wait after `attempts` earlier busy refusals."""
    wait = min(settings.poll_initial * 2.0 ** min(attempts, 30), settings.poll_max_interval)
    return max(wait, retry_after or 0.0)
