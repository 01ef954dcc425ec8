"""The submission queue: a per-provider cap on tasks in flight, and resends after busy answers.

A new task takes a slot of its provider when one is free and no earlier task is waiting; otherwise
it stays `queued` here, its request sealed (encrypted) in the database, until a slot frees. A 429
or concurrency answer holds the task the same way and tries again later, instead of failing it.
Providers whose submit call lasts until the video is done (1min.ai) are sent in the background.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from dispatcher.wakeup import Wakeup
from receiver.providers.base import Provider, TaskRequest
from receiver.runtime.owner import process_owner
from receiver.services.request_forms import sealed_payload
from receiver.services.secrets import SecretBox
from receiver.settings import Settings
from store import EventIn, EventOutcome, Observation, WriterStopped
from store.interface import SubmitSlotsStore
from store.states import FAILED

log = logging.getLogger("reelhook.queue")
SendFn = Callable[[str, Provider, TaskRequest, str, str | None], Awaitable[None]]
ChangeFn = Callable[[str, EventIn], Awaitable[EventOutcome]]
MAX_TICK = 1.0
# How often the queue looks for sends whose claim's lease ran out (a process died mid-send).
TAKEOVER_EVERY = 5.0


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
        # Background work: a send cut off at a stop is named (task id, provider) to settle it.
        self._background: dict[asyncio.Future[None], tuple[str, str] | None] = {}
        self.owner = process_owner()
        # Busy refusals per task in this process: the backoff's exponent (the deadline itself
        # counts from the task's creation, in the database).
        self.busy_attempts: dict[str, int] = {}

    async def offer(
        self, task_id: str, provider: Provider, request: TaskRequest, secret: str, key: str | None
    ) -> None:
        """Send the new task now if its provider has a free slot, else hold it."""
        if await self.claim(task_id, provider):
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

    def spawn(self, work: Awaitable[None], send: tuple[str, str] | None = None) -> None:
        """Run `work` in the background; it is cancelled when the queue closes (a `send`, task id
        and provider, is then settled like any cut-off send)."""
        job = asyncio.ensure_future(work)
        self._background[job] = send
        job.add_done_callback(self._forget)

    def _forget(self, job: asyncio.Future[None]) -> None:
        self._background.pop(job, None)

    def busy_wait(self, task_id: str, retry_after: float | None) -> float:
        """Seconds before resending a submission the provider refused as busy: doubling from
        REELHOOK_POLL_INITIAL to REELHOOK_POLL_MAX_INTERVAL, at least its Retry-After."""
        attempts = self.busy_attempts.get(task_id, 0)
        self.busy_attempts[task_id] = attempts + 1
        return busy_backoff(attempts, retry_after, self.settings)

    def wake(self) -> None:
        """A slot may have freed: look at held tasks now."""
        self._wakeup.set()

    async def run(self) -> None:
        """Send held tasks as slots free, until cancelled."""
        tick = min(MAX_TICK, self.settings.poll_initial)
        last_takeover = time.monotonic()
        while True:
            await self._wakeup.wait(tick)
            try:
                if time.monotonic() - last_takeover >= TAKEOVER_EVERY:
                    last_takeover = time.monotonic()
                    await self.fail_interrupted()
                await self.release_held()
            except WriterStopped:  # nothing can be recorded any more: the loop ends, watched
                raise
            except Exception:
                log.exception("sending held tasks failed; trying again")

    async def release_held(self) -> None:
        """Send every held task whose provider has a free slot, oldest first. Once a provider's
        claim fails this pass, its later tasks are not tried: they wait behind the earlier one
        anyway (the next wake-up or tick looks again), so a long queue costs one claim, not one
        per held task."""
        full: set[str] = set()
        for row in await self.slots.held(time.time()):
            provider = self.providers.get(row["provider"])
            if provider is None or provider.name in full:
                continue
            if not await self.claim(row["id"], provider, provider.idempotent_submit):
                full.add(provider.name)
                continue
            payload = json.loads(self.secrets.decrypt(row["held_request"]))
            request = TaskRequest(**payload["request"])
            await self.dispatch(row["id"], provider, request, payload["secret"], payload["key"])

    async def fail_interrupted(self) -> int:
        """Settle tasks whose send was cut off, only those whose claim's lease ran out (a send
        another live process has under way is never touched): sent again where the provider
        honours our Idempotency-Key (Wave: no second task) and the request is still sealed;
        otherwise their outcome is unknown and they are failed. Returns how many were failed."""
        rows = await self.slots.interrupted(grace=self.lease(None))
        failed = 0
        for row in rows:
            if not await self._settle_cut_off(row["id"], row["provider"], bool(row["sealed"])):
                failed += 1
        return failed

    async def _settle_cut_off(self, task_id: str, provider_name: str, sealed: bool) -> bool:
        """Resend a cut-off send where that is safe (True), else fail its task (False)."""
        provider = self.providers.get(provider_name)
        resendable = sealed and provider is not None and provider.idempotent_submit
        if resendable and await self.slots.resend(task_id):
            log.info("sending %s to %s again after a stop", task_id, provider_name)
            self.wake()
            return True
        await self._fail_cut_off(task_id, provider_name)
        return False

    async def _fail_cut_off(self, task_id: str, provider: str) -> None:
        message = (
            f"reelhook stopped while the call to {provider} was in flight; its outcome"
            " is unknown, so the task was failed: submit it again"
        )
        event = EventIn("submit:interrupted", "submit", Observation(FAILED, error=message))
        await self._change(task_id, event)

    async def drain(self) -> None:
        """Wait for the background sends under way (for `reelhook tick`, which then exits)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self) -> None:
        """Cancel background work; this process holds its cut-off sends' claims, so it settles
        them now: sent again by whoever runs the queue next where the provider honours our
        Idempotency-Key and the request is still sealed, failed otherwise."""
        jobs = dict(self._background)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        for send in jobs.values():
            if send is None:
                continue
            try:
                await self._settle_cut_off(*send, sealed=True)
            except Exception:
                log.exception("recording the cut-off send of %s failed", send[0])

    async def dispatch(
        self, task_id: str, provider: Provider, request: TaskRequest, secret: str, key: str | None
    ) -> None:
        """Send a task whose slot is claimed (in the background for 1min.ai's long call)."""
        sending = self._send(task_id, provider, request, secret, key or f"reelhook-{task_id}")
        if provider.background_submit:
            self.spawn(self._finish(task_id, provider, sending), (task_id, provider.name))
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

    def lease(self, provider: Provider | None) -> float:
        """How long a send claim holds: a send is cut off after its timeout, so a claim older
        than twice that (and a margin) belongs to a process that is gone."""
        slow = provider is not None and provider.background_submit
        timeout = max(self.settings.provider_timeout, self.settings.onemin_timeout if slow else 0)
        return 2 * timeout + 5.0

    async def claim(self, task_id: str, provider: Provider, keep_sealed: bool = False) -> bool:
        """Take a slot of the provider for the task, for this process under the send's lease
        (with `keep_sealed` a held request stays sealed until the provider's answer)."""
        return await self.slots.claim_slot(
            task_id, provider.name, self.cap(provider), keep_sealed,
            owner=self.owner, lease=self.lease(provider),
        )

    def cap(self, provider: Provider) -> int:
        """The provider's in-flight cap (0: none)."""
        return int(self.settings.max_in_flight.get(provider.name, 0))


def busy_backoff(attempts: int, retry_after: float | None, settings: Settings) -> float:
    """The wait after `attempts` earlier busy refusals."""
    wait = min(settings.poll_initial * 2.0 ** min(attempts, 30), settings.poll_max_interval)
    return max(wait, retry_after or 0.0)
