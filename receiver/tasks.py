"""Submitting tasks to providers and applying what providers report, for every entry point."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

import httpx

from dispatcher.netguard import BlockedAddress, check_slack_url, check_url
from receiver.errors import Conflict, NotFound, Unprocessable
from receiver.providers.base import CallbackTarget, Provider, Report, TaskRequest
from receiver.providers.errors import (
    CancelNotSupported,
    InvalidRequest,
    ProviderBusy,
    ProviderError,
)
from receiver.providers.http import redact_urls
from receiver.providers.rules import is_data_uri
from receiver.queueing import SubmitQueue
from receiver.secrets import SecretBox, redact_url
from receiver.settings import Settings
from receiver.validation import Submission
from store import (
    EventIn,
    IdempotencyConflict,
    NewDestination,
    NewTask,
    Observation,
    Store,
    StoreUnavailable,
    TaskNotFound,
)
from store.models import new_task_id
from store.states import CANCELLED, FAILED, is_terminal

log = logging.getLogger("reelhook.tasks")
MAX_RECORD_WAIT = 5.0


class TaskService:
    """The flow of a task: record, send to the provider, apply reports."""

    def __init__(
        self,
        store: Store,
        providers: dict[str, Provider],
        http: httpx.AsyncClient,
        secrets: SecretBox,
        settings: Settings,
    ) -> None:
        self.store = store
        self.providers = providers
        self.http = http
        self.secrets = secrets
        self.settings = settings
        self.queue = SubmitQueue(store, secrets, settings, providers, self._send)
        # Set by the dispatcher when it runs in this process: a state change that queued notices
        # wakes it at once instead of at its next look (REELHOOK_DISPATCH_INTERVAL).
        self.notices_queued: Callable[[], None] = _nothing

    async def submit(
        self, submission: Submission, idempotency_key: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Validate, record and send a task; return it and whether it is new."""
        request = submission.request
        provider = self.providers[request.provider]
        check_request(provider, request)
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
            destinations=self._destinations(submission),
        )
        seal = functools.partial(self.queue.seal, request, secret, idempotency_key)
        try:
            task, created, claimed = await self.store.polling.create_and_claim(
                new, self.queue.cap(provider), seal, keep_sealed=provider.idempotent_submit
            )
        except IdempotencyConflict as exc:
            raise Conflict(
                "this Idempotency-Key was used with a different request; use a new key",
                field="Idempotency-Key",
            ) from exc
        if created and claimed:
            await self.queue.dispatch(task_id, provider, request, secret, idempotency_key)
        elif created:
            log.info("holding %s: %s has no free slot", task_id, provider.name)
        if created:
            task = await self.store.get_task(task_id)
        return task, created

    async def apply_report(self, task_id: str, report: Report, source: str) -> bool:
        """Record what a provider said; False when it was a duplicate."""
        event = EventIn(
            dedupe_key=report.dedupe_key,
            source=source,
            provider_status=report.provider_status,
            seen=Observation(report.status, report.progress, report.video_url, report.error),
            payload=report.payload,
            provider_task_id=report.provider_task_id,
            only_if_changes=source == "poll",
        )
        outcome = await self.store.record_event(task_id, event)
        if outcome.changed and outcome.task["status"] in self.settings.notify_on:
            self.notices_queued()
        if outcome.changed and is_terminal(outcome.task["status"]):
            self.queue.wake()
        return outcome.recorded

    async def cancel(self, task_id: str) -> dict[str, Any]:
        """Cancel at the provider and record it; Conflict when that is not possible."""
        task = await self.get(task_id)
        if is_terminal(task["status"]):
            raise Conflict(
                f"task is already {task['status']}; only unfinished tasks can be cancelled"
            )
        provider = self.providers[task["provider"]]
        if not task["provider_task_id"] and task.get("submit_state") == "pending":
            seen = Observation(CANCELLED, error="cancelled by client before it was sent")
            withdrawn = await self.store.cancel_unsent(
                task_id, EventIn("cancel:held", "client", seen)
            )
            if withdrawn is not None:
                return await self.store.get_task(task_id)
            task = await self.get(task_id)
        if not task["provider_task_id"]:
            raise Conflict("task has not reached the provider yet; try again in a moment")
        try:
            await provider.cancel(self.http, task["provider_task_id"])
        except CancelNotSupported as exc:
            raise Conflict(str(exc)) from exc
        except ProviderError as exc:
            raise Conflict(f"the provider refused to cancel: {exc}") from exc
        event = EventIn(
            "cancel:requested", "client", Observation(CANCELLED, error="cancelled by client")
        )
        await self.store.record_event(task_id, event)
        return await self.store.get_task(task_id)

    async def get(self, task_id: str) -> dict[str, Any]:
        """One task; NotFound when there is none."""
        try:
            return await self.store.get_task(task_id)
        except TaskNotFound as exc:
            raise NotFound(f"no task with id {task_id!r}", field="id") from exc

    async def _send(
        self, task_id: str, provider: Provider, request: TaskRequest, secret: str, key: str | None
    ) -> None:
        callback = self._callback(provider, task_id, secret)  # the queue claimed it ("sending")
        try:
            report = await provider.submit(self.http, request, callback, key)
        except ProviderBusy as exc:
            await self._busy(task_id, provider, request, secret, key, exc)
            return
        except ProviderError as exc:
            reason = redact_urls(str(exc))  # user URLs may carry presigned signatures
            log.warning("submit of %s to %s failed: %s", task_id, provider.name, reason)
            seen = Observation(FAILED, error=f"{provider.name}: {reason}")
            event = EventIn("submit:failed", "submit", seen)
            await self._record(task_id, functools.partial(self.store.record_event, task_id, event))
            return
        self.queue.busy_attempts.pop(task_id, None)
        await self._record(task_id, functools.partial(self.apply_report, task_id, report, "submit"))

    async def _busy(
        self, task_id: str, provider: Provider, request: TaskRequest, secret: str,
        key: str | None, exc: ProviderBusy,
    ) -> None:
        """Hold the task to resend after a backoff, or fail it once that passes its deadline."""
        wait = self.queue.busy_wait(task_id, exc.retry_after)
        task = await self.store.get_task(task_id)
        age = time.time() - datetime.fromisoformat(task["created_at"]).timestamp()
        if age + wait > self.settings.task_deadline:
            self.queue.busy_attempts.pop(task_id, None)
            seconds = self.settings.task_deadline
            message = f"timeout: {provider.name} refused it as busy for {seconds:g} s: {exc}"
            event = EventIn("submit:busy-timeout", "submit", Observation(FAILED, error=message))
            write: Callable[[], Awaitable[Any]]
            write = functools.partial(self.store.record_event, task_id, event)
        else:
            log.info("%s is busy; %s waits %.1f s: %s", provider.name, task_id, wait, exc)
            write = functools.partial(self.queue.hold, task_id, request, secret, key, wait)
        await self._record(task_id, write)

    async def _record(self, task_id: str, write: Callable[[], Awaitable[Any]]) -> None:
        """Record the outcome of a send; while the store cannot write (a full disk), keep
        trying in the background, so the task goes on once space is back, without a restart."""
        try:
            await write()
        except StoreUnavailable as exc:
            log.error("recording the send of %s failed (%s); retrying until it is stored",
                      task_id, exc)
            self.queue.spawn(_retry_until_stored(write))

    def _callback(self, provider: Provider, task_id: str, secret: str) -> CallbackTarget | None:
        if not provider.supports_callbacks:
            return None
        url = f"{self.settings.public_url}/callbacks/{provider.name}/{task_id}"
        if provider.token_in_path:
            url = f"{url}/{secret}"
        events = tuple(sorted(self.settings.notify_on | {"succeeded", "failed"}))
        return CallbackTarget(url=url, secret=secret, events=events)

    def _destinations(self, submission: Submission) -> tuple[NewDestination, ...]:
        """The task's own destinations, then the global routes; one per address."""
        chosen: dict[str, NewDestination] = {}
        for index, item in enumerate(submission.notify):
            if item["channel"] == "email" and not self.settings.smtp_url:
                raise Unprocessable(
                    "email notices need REELHOOK_SMTP_URL on the server; use slack or webhook",
                    field=f"notify[{index}].to",
                )
            self._check_reachable(index, item)
        for item in (*submission.notify, *self._global_routes()):
            destination = self._destination(item)
            chosen.setdefault(destination.route_key, destination)
        return tuple(chosen.values())

    def _check_reachable(self, index: int, item: dict[str, Any]) -> None:
        """User URLs must lead to public addresses (Slack's host for Slack), unless allowed."""
        check = check_slack_url if item["channel"] == "slack" else check_url
        if "url" in item:
            try:
                check(item["url"], allow_private=self.settings.allow_private_urls)
            except BlockedAddress as exc:
                raise Unprocessable(str(exc), field=f"notify[{index}].url") from exc

    def _global_routes(self) -> list[dict[str, Any]]:
        routes: list[dict[str, Any]] = []
        if self.settings.slack_webhook_url:
            routes.append({"channel": "slack", "url": self.settings.slack_webhook_url})
        routes += [{"channel": "email", "to": address} for address in self.settings.email_to]
        return routes

    def _destination(self, item: dict[str, Any]) -> NewDestination:
        channel = item["channel"]
        target = {key: value for key, value in item.items() if key != "channel"}
        address = item.get("url") or item.get("to") or ""
        label = redact_url(address) if "url" in item else _mask_email(address)
        route_key = self.secrets.hash_secret(f"route:{channel}:{address}")[:24]
        return NewDestination(channel, self.secrets.encrypt(json.dumps(target)), label, route_key)


def _nothing() -> None:
    return None


async def _retry_until_stored(write: Callable[[], Awaitable[Any]]) -> None:
    wait = 0.1
    while True:
        await asyncio.sleep(wait)
        try:
            await write()
            return
        except StoreUnavailable:
            wait = min(wait * 2, MAX_RECORD_WAIT)


def check_request(provider: Provider, request: TaskRequest) -> None:
    """The provider's rules for the model; Unprocessable names the field."""
    if request.model not in provider.models:
        allowed = ", ".join(sorted(provider.models))
        raise Unprocessable(f"model must be one of {allowed} for {provider.name}", field="model")
    try:
        provider.validate(request)
    except InvalidRequest as exc:
        raise Unprocessable(exc.message, field=exc.field) from exc


def stored_request(request: TaskRequest) -> dict[str, Any]:
    """The request as recorded: data: URIs are replaced by their size, never stored whole."""
    values = asdict(request)
    for name in ("image", "end_image"):
        if isinstance(values[name], str) and is_data_uri(values[name]):
            values[name] = f"{values[name].split(',', 1)[0]},({len(values[name])} characters)"
    values["extra"] = dict(request.extra)
    return values


def fingerprint(submission: Submission, defaults: Mapping[str, Any] | None = None) -> str:
    """A hash of what the client asked for, to tell a replay from a different request: a field
    left out, null, empty or set to its default value counts as the same request."""
    defaults = defaults or {}
    values = asdict(submission.request) | {"extra": dict(submission.request.extra)}
    asked = {
        name: value for name, value in values.items()
        if value not in (None, {}) and not (name in defaults and defaults[name] == value)
    }
    payload = {
        "request": asked,
        "notify": submission.notify,
        "metadata": submission.metadata,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _mask_email(address: str) -> str:
    name, _, domain = address.partition("@")
    return f"{name[:1]}…@{domain}" if domain else "…"
