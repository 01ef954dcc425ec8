"""The task service: submitting tasks, and the one path every change of a task's state takes.

Callbacks, polls, Wave's confirmations, the provider's answer to a submit, a failed submit, a
cancel, a time-out and an interrupted send all end in `TaskService.change`: it records the event
and then acts on what the store reports back (the task changed: tell `on_change`, the dashboard's
live view; a video to keep: wake the keeper). Notices queued and slots freed wake the dispatcher
and the submit queue one way only: the store announces them after the commit, to every process
(receiver/app.py subscribes). Nothing else calls the store's `record_event`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dispatcher.netguard import BlockedAddress, check_url, host_and_port
from receiver.errors import Conflict, NotFound, Unprocessable
from receiver.providers import PROVIDER_NAMES
from receiver.providers.base import Provider, Report, ask_about
from receiver.providers.errors import CancelNotSupported, ProviderError
from receiver.providers.rules import is_data_uri
from receiver.services.destinations import task_destinations
from receiver.services.off_loop import off_loop as in_thread
from receiver.services.request_forms import fingerprint, stored_request
from receiver.services.secrets import SecretBox
from receiver.services.sends import Send, report_event
from receiver.services.submit_queue import SubmitQueue
from receiver.services.validation import Submission, check_request
from receiver.services.wakeups import Wakeups
from receiver.settings import Settings
from store import (
    EventIn,
    EventOutcome,
    IdempotencyConflict,
    NewTask,
    Observation,
    StoreUnavailable,
    TaskNotFound,
    TaskStore,
)
from store.models import new_task_id
from store.rows import TaskRow
from store.states import CANCELLED, VIDEO_PENDING, is_terminal

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("reelhook.tasks")


class TaskService:
    """The flow of a task: record, send to the provider, apply what comes back."""

    def __init__(
        self,
        store: TaskStore,
        providers: dict[str, Provider],
        http: httpx.AsyncClient,
        secrets: SecretBox,
        settings: Settings,
        wakeups: Wakeups,
        on_change: Callable[[TaskRow], None] = lambda task: None,
    ) -> None:
        self.store = store
        self.providers = providers
        self.http = http
        self.secrets = secrets
        self.settings = settings
        self.wakeups = wakeups
        self.on_change = on_change
        self.queue = SubmitQueue(
            store.submits, store.get_task, secrets, settings, providers, http, self.change,
            wakeups.slots,
        )

    async def change(self, task_id: str, event: EventIn) -> EventOutcome:
        """Record an event (once) and act on what the store reports: the one state-change path."""
        outcome = await self.store.record_event(task_id, event)
        if outcome.changed:
            self.on_change(outcome.task)
        if outcome.changed and outcome.task.get("video_status") == VIDEO_PENDING:
            self.wakeups.videos.set()
        return outcome

    def _prepare(
        self, submission: Submission, provider: Provider, idempotency_key: str | None
    ) -> tuple[NewTask, str]:
        """The provider's checks, then the task as it will be recorded, and its callback
        secret (Unprocessable names a field that breaks a rule)."""
        request = submission.request
        check_request(provider, request)
        if provider.fetches_image:
            check_image_url(request.image, self.settings)
        task_id = new_task_id()
        secret = self.secrets.new_callback_secret(task_id)
        new = NewTask(
            id=task_id,
            provider=request.provider,
            model=request.model,
            request=stored_request(request),
            callback_secret_hash=self.secrets.hash_secret(secret),
            metadata=submission.metadata,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint(submission, provider.defaults(request.model)),
            cost_usd=provider.estimate_cost(request),
            destinations=task_destinations(submission, self.settings, self.secrets),
            notify_queued="queued" in self.settings.notify_on,
        )
        return new, secret

    async def submit(
        self, submission: Submission, idempotency_key: str | None, *, off_loop: bool = False
    ) -> tuple[TaskRow, bool]:
        """Validate, record and send a task; return it and whether it is new. With `off_loop`
        (a large request: images as data URIs) the checks, the forms it is kept in and its
        sealing are done in a thread, so the event loop is not held while megabytes are
        decoded, hashed and encrypted."""
        request = submission.request
        provider = self.providers[request.provider]
        prepare = functools.partial(self._prepare, submission, provider, idempotency_key)
        new, secret = await in_thread(prepare) if off_loop else prepare()
        task_id = new.id
        send = Send(task_id, provider, request, secret, idempotency_key)
        # Sealed before the transaction, not inside it (in a thread too when it is large).
        seal = functools.partial(self.queue.seal, send)
        sealed = await in_thread(seal) if off_loop else seal()
        try:
            # Recorded and claimed (or held) in one commit: whole, ready to send, or not at all.
            task, created, claimed = await self.store.create_and_claim(
                new, self.queue.cap(provider), sealed, keep_sealed=provider.idempotent_submit,
                owner=self.queue.owner, lease=self.queue.lease(provider),
            )
        except IdempotencyConflict as exc:
            raise Conflict(
                "this Idempotency-Key was used with a different request; use a new key",
                field="Idempotency-Key",
            ) from exc
        if not created:
            return task, False
        self.on_change(task)
        if claimed:
            await self.queue.dispatch(send)
        else:
            log.info("holding %s: %s has no free slot", task_id, provider.name)
        return await self._as_stored_now(task), True

    async def _as_stored_now(self, task: TaskRow) -> TaskRow:
        """The recorded task as it stands after its send; the row as recorded when the store
        cannot be read now. It is recorded and maybe sent (the send's outcome is written in the
        background until it is stored): an error answer would invite the client to pay twice."""
        try:
            return await self.store.get_task(task["id"])
        except StoreUnavailable as exc:
            log.warning("answering the submit of %s with the task as recorded: reading it again"
                        " failed (%s)", task["id"], exc)
            return task

    async def apply_report(self, task_id: str, report: Report, source: str) -> bool:
        """Record what a provider said; False when it was a duplicate."""
        return (await self.change(task_id, report_event(report, source))).recorded

    async def apply_callback(
        self, task: Mapping[str, Any], provider: Provider, report: Report
    ) -> bool:
        """Record a verified callback; False for a duplicate. For providers whose terminal
        callbacks count only once Get Task agrees (Wave), a terminal one is recorded as a hint and
        what Get Task says is applied."""
        if not provider.confirm_terminal or report.status is None or not is_terminal(report.status):
            return await self.apply_report(task["id"], report, "callback")
        hint = report._replace(status=None, progress=None, video_url=None, error=None)
        if not await self.apply_report(task["id"], hint, "callback"):
            return False
        provider_task_id = task["provider_task_id"] or report.provider_task_id
        if not provider_task_id:
            return True
        try:
            truth = await ask_about(provider, self.http, provider_task_id)
        except ProviderError as exc:
            log.warning("confirming %s at %s failed (polling will): %s", task["id"],
                        provider.name, exc)
            return True
        await self.apply_report(task["id"], truth, "confirm")
        return True

    async def cancel(self, task_id: str) -> TaskRow:
        """Cancel at the provider and record it; Conflict when that is not possible."""
        task = await self.get(task_id)
        if is_terminal(task["status"]):
            raise Conflict(
                f"task is already {task['status']}; only unfinished tasks can be cancelled"
            )
        provider = self.providers[task["provider"]]
        if not task["provider_task_id"] and task.get("submit_state") == "pending":
            seen = Observation(CANCELLED, error="cancelled by client before it was sent")
            event = EventIn("cancel:held", "client", seen, only_if_unsent=True)
            if (await self.change(task_id, event)).recorded:
                return await self.store.get_task(task_id)
            task = await self.get(task_id)
        if not task["provider_task_id"] and provider.cancels:
            raise Conflict("task has not reached the provider yet; try again in a moment")
        try:  # a provider with no cancel gives its reason whether the task reached it or not
            await provider.cancel(self.http, task["provider_task_id"] or "")
        except CancelNotSupported as exc:
            raise Conflict(str(exc)) from exc
        except ProviderError as exc:
            raise Conflict(f"the provider refused to cancel: {exc}") from exc
        event = EventIn(
            "cancel:requested", "client", Observation(CANCELLED, error="cancelled by client")
        )
        await self.change(task_id, event)
        return await self.store.get_task(task_id)

    async def get(self, task_id: str) -> TaskRow:
        """One task; NotFound when there is none."""
        try:
            return await self.store.get_task(task_id)
        except TaskNotFound as exc:
            raise NotFound(f"no task with id {task_id!r}", field="id") from exc


def check_image_url(image: str | None, settings: Settings) -> None:
    """An image URL reelhook downloads itself must lead to a public address (data: URIs pass),
    or to a host the operator trusts: REELHOOK_TRUSTED_HOSTS, a provider's own."""
    if image is None or is_data_uri(image):
        return
    providers = {host_and_port(settings.provider(name).base_url) for name in PROVIDER_NAMES}
    try:
        check_url(image, allow_private=settings.allow_private_urls,
                  trusted=settings.trusted_hosts | providers)
    except BlockedAddress as exc:
        raise Unprocessable(str(exc), field="image") from exc
