"""The submission queue: a per-provider cap on tasks in flight, the sends themselves, and
resends after busy answers.

A new task takes a slot of its provider when one is free and no earlier task is waiting; otherwise
it stays `queued` here, its request sealed (encrypted) in the database, until a slot frees. A 429
or concurrency answer holds the task the same way and tries again later, instead of failing it.
Providers whose submit call lasts until the video is done (1min.ai) are sent in the background.
The queue owns each `Send` from its claim to the provider's answer, which it records through the
task service's one state-change path (`change`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dispatcher.wakeup import Wakeup
from receiver.providers.base import Provider
from receiver.providers.errors import ProviderBusy, ProviderError
from receiver.providers.http import redact_urls
from receiver.services.owner import process_owner
from receiver.services.secrets import SecretBox
from receiver.services.sends import Send, failed_event, report_event
from receiver.settings import Settings
from store import EventIn, EventOutcome, StoreUnavailable, WriterStopped
from store.interface import SubmitSlotsStore
from store.rows import TaskRow

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("reelhook.queue")
ChangeFn = Callable[[str, EventIn], Awaitable[EventOutcome]]
TaskReader = Callable[[str], Awaitable[TaskRow]]
MAX_TICK = 1.0
# How often the queue looks for sends whose claim's lease ran out (a process died mid-send).
TAKEOVER_EVERY = 5.0
MAX_RECORD_WAIT = 5.0


class SubmitQueue:
    """Decides when each task is sent, and sends held ones as slots free."""

    def __init__(
        self,
        slots: SubmitSlotsStore,
        read_task: TaskReader,
        secrets: SecretBox,
        settings: Settings,
        providers: Mapping[str, Provider],
        http: httpx.AsyncClient,
        change: ChangeFn,
        wakeup: Wakeup,
    ) -> None:
        self.slots = slots
        self._read_task = read_task
        self.secrets = secrets
        self.settings = settings
        self.providers = providers
        self._http = http
        self._change = change  # the task service's one state-change path
        self._wakeup = wakeup
        # Background work: a send cut off at a stop is named (task id, provider) to settle it.
        self._background: dict[asyncio.Future[None], tuple[str, str] | None] = {}
        self.owner = process_owner()
        # Busy refusals per task in this process: the backoff's exponent (the deadline itself
        # counts from the task's creation, in the database).
        self._busy_attempts: dict[str, int] = {}

    async def offer(self, send: Send) -> None:
        """Send the new task now if its provider has a free slot, else hold it."""
        if await self.claim(send.task_id, send.provider):
            await self.dispatch(send)
        else:
            log.info("holding %s: %s has no free slot", send.task_id, send.provider.name)
            await self.hold(send, 0.0)

    async def hold(self, send: Send, delay: float | None) -> None:
        """Keep the task queued here and try again after `delay` seconds (None: the default)."""
        wait = self.settings.poll_initial if delay is None else delay
        await self.slots.hold(send.task_id, self.seal(send), time.time() + wait)

    def seal(self, send: Send) -> str:
        """The send's request, callback secret and key, encrypted for a later send."""
        return self.secrets.encrypt(send.sealable())

    def spawn(self, work: Awaitable[None], send: tuple[str, str] | None = None) -> None:
        """Run `work` in the background; it is cancelled when the queue closes (a `send`, task id
        and provider, is then settled like any cut-off send)."""
        job = asyncio.ensure_future(work)
        self._background[job] = send
        job.add_done_callback(self._forget)

    def _forget(self, job: asyncio.Future[None]) -> None:
        self._background.pop(job, None)

    def _busy_wait(self, task_id: str, retry_after: float | None) -> float:
        """Seconds before resending a submission the provider refused as busy: doubling from
        REELHOOK_POLL_INITIAL to REELHOOK_POLL_MAX_INTERVAL, at least its Retry-After."""
        attempts = self._busy_attempts.get(task_id, 0)
        self._busy_attempts[task_id] = attempts + 1
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
            opened = self.secrets.decrypt(row["held_request"])
            await self.dispatch(Send.unsealed(row["id"], provider, opened))

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
        await self._change(task_id, failed_event("submit:interrupted", message))

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

    async def dispatch(self, send: Send) -> None:
        """Send a task whose slot is claimed (in the background for 1min.ai's long call)."""
        if send.provider.background_submit:
            self.spawn(self._finish(send), (send.task_id, send.provider.name))
            return
        await self._finish(send)

    async def _finish(self, send: Send) -> None:
        try:
            await self._send(send)
        except Exception as exc:  # a bug of ours must not leave the task queued, holding its slot
            log.exception("sending %s to %s failed unexpectedly", send.task_id, send.provider.name)
            await self._fail_unexpected(send, exc)
        finally:
            self.wake()

    async def _send(self, send: Send) -> None:
        """Call the provider (the queue has claimed the task: "sending") and record its answer."""
        task_id, provider = send.task_id, send.provider
        try:
            report = await provider.submit(
                self._http, send.request, send.callback(self.settings), send.idempotency_key
            )
        except ProviderBusy as exc:
            await self._busy(send, exc)
            return
        except ProviderError as exc:
            reason = redact_urls(str(exc))  # user URLs may carry presigned signatures
            log.warning("submit of %s to %s failed: %s", task_id, provider.name, reason)
            event = failed_event("submit:failed", f"{provider.name}: {reason}")
            await self._record(task_id, lambda: self._change(task_id, event))
            return
        self._busy_attempts.pop(task_id, None)
        event = report_event(report, "submit")
        await self._record(task_id, lambda: self._change(task_id, event))

    async def _busy(self, send: Send, exc: ProviderBusy) -> None:
        """Hold the task to resend after a backoff, or fail it once that passes its deadline."""
        task_id, provider = send.task_id, send.provider
        wait = self._busy_wait(task_id, exc.retry_after)
        task = await self._read_task(task_id)
        age = time.time() - datetime.fromisoformat(task["created_at"]).timestamp()
        write: Callable[[], Awaitable[Any]]
        if age + wait > self.settings.task_deadline:
            self._busy_attempts.pop(task_id, None)
            seconds = self.settings.task_deadline
            message = f"timeout: {provider.name} refused it as busy for {seconds:g} s: {exc}"
            event = failed_event("submit:busy-timeout", message)
            write = lambda: self._change(task_id, event)  # noqa: E731
        else:
            log.info("%s is busy; %s waits %.1f s: %s", provider.name, task_id, wait, exc)
            write = lambda: self.hold(send, wait)  # noqa: E731
        await self._record(task_id, write)

    async def _record(self, task_id: str, write: Callable[[], Awaitable[Any]]) -> None:
        """Record the outcome of a send; while the store cannot write (a full disk), keep
        trying in the background, so the task goes on once space is back, without a restart."""
        try:
            await write()
        except WriterStopped:
            raise  # nothing will be written until a restart, which resumes from the database
        except StoreUnavailable as exc:
            log.error("recording the send of %s failed (%s); retrying until it is stored",
                      task_id, exc)
            self.spawn(_retry_until_stored(write))

    async def _fail_unexpected(self, send: Send, exc: Exception) -> None:
        message = f"{send.provider.name}: the send failed unexpectedly ({type(exc).__name__})"
        try:
            await self._change(send.task_id, failed_event("submit:failed", message))
        except Exception:
            log.exception("recording the failed send of %s failed", send.task_id)

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


async def _retry_until_stored(write: Callable[[], Awaitable[Any]]) -> None:
    wait = 0.1
    while True:
        await asyncio.sleep(wait)
        try:
            await write()
            return
        except WriterStopped:
            log.error("the store stopped; the outcome of a send was not recorded")
            return
        except StoreUnavailable:
            wait = min(wait * 2, MAX_RECORD_WAIT)


def busy_backoff(attempts: int, retry_after: float | None, settings: Settings) -> float:
    """The wait after `attempts` earlier busy refusals."""
    wait = min(settings.poll_initial * 2.0 ** min(attempts, 30), settings.poll_max_interval)
    return max(wait, retry_after or 0.0)
