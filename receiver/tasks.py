"""Submitting tasks to providers and applying what providers report, for every entry point."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from typing import Any

import httpx

from receiver.errors import Conflict, NotFound, Unprocessable
from receiver.providers.base import CallbackTarget, Provider, Report, TaskRequest
from receiver.providers.errors import CancelNotSupported, InvalidRequest, ProviderError
from receiver.providers.rules import is_data_uri
from receiver.secrets import SecretBox, redact_url
from receiver.settings import Settings
from receiver.validation import Submission
from store import EventIn, IdempotencyConflict, NewDestination, NewTask, Observation, Store, TaskNotFound
from store.models import new_task_id
from store.states import CANCELLED, FAILED, is_terminal

log = logging.getLogger("reelhook.tasks")


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

    async def submit(
        self, submission: Submission, idempotency_key: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Validate, record and send a task; return it and whether it is new."""
        request = submission.request
        provider = self.providers[request.provider]
        check_request(provider, request)
        secret = self.secrets.new_callback_secret()
        new = NewTask(
            id=new_task_id(),
            provider=request.provider,
            model=request.model,
            request=stored_request(request),
            callback_secret_hash=self.secrets.hash_secret(secret),
            metadata=submission.metadata,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint(submission),
            cost_usd=provider.estimate_cost(request),
            destinations=self._destinations(submission),
        )
        try:
            task, created = await self.store.create_task(new)
        except IdempotencyConflict as exc:
            raise Conflict(
                "this Idempotency-Key was used with a different request; use a new key",
                field="Idempotency-Key",
            ) from exc
        if created:
            await self._send(task["id"], provider, request, secret, idempotency_key)
            task = await self.store.get_task(task["id"])
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
        )
        outcome = await self.store.record_event(task_id, event)
        return outcome.recorded

    async def cancel(self, task_id: str) -> dict[str, Any]:
        """Cancel at the provider and record it; Conflict when that is not possible."""
        task = await self.get(task_id)
        if is_terminal(task["status"]):
            raise Conflict(f"task is already {task['status']}; only unfinished tasks can be cancelled")
        provider = self.providers[task["provider"]]
        if not task["provider_task_id"]:
            raise Conflict("task has not reached the provider yet; try again in a moment")
        try:
            await provider.cancel(self.http, task["provider_task_id"])
        except CancelNotSupported as exc:
            raise Conflict(str(exc)) from exc
        except ProviderError as exc:
            raise Conflict(f"the provider refused to cancel: {exc}") from exc
        event = EventIn("cancel:requested", "client", Observation(CANCELLED, error="cancelled by client"))
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
        callback = self._callback(provider, task_id, secret)
        await self.store.mark_submit_state(task_id, "sending")
        try:
            report = await provider.submit(self.http, request, callback, key)
        except ProviderError as exc:
            log.warning("submit of %s to %s failed: %s", task_id, provider.name, exc)
            seen = Observation(FAILED, error=f"{provider.name}: {exc}")
            await self.store.record_event(task_id, EventIn("submit:failed", "submit", seen))
            return
        await self.apply_report(task_id, report, "submit")

    def _callback(self, provider: Provider, task_id: str, secret: str) -> CallbackTarget | None:
        if not provider.supports_callbacks:
            return None
        url = f"{self.settings.public_url}/callbacks/{provider.name}/{task_id}"
        if getattr(provider, "token_in_path", False):
            url = f"{url}/{secret}"
        events = tuple(sorted(self.settings.notify_on | {"succeeded", "failed"}))
        return CallbackTarget(url=url, secret=secret, events=events)

    def _destinations(self, submission: Submission) -> tuple[NewDestination, ...]:
        return tuple(self._destination(item) for item in submission.notify)

    def _destination(self, item: dict[str, Any]) -> NewDestination:
        channel = item["channel"]
        target = {key: value for key, value in item.items() if key != "channel"}
        address = item.get("url") or item.get("to") or ""
        label = redact_url(address) if "url" in item else _mask_email(address)
        route_key = hashlib.sha256(f"{channel}:{address}".encode()).hexdigest()[:16]
        return NewDestination(channel, self.secrets.encrypt(json.dumps(target)), label, route_key)


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


def fingerprint(submission: Submission) -> str:
    """A hash of everything the client sent, to tell a replay from a different request."""
    payload = {
        "request": asdict(submission.request) | {"extra": dict(submission.request.extra)},
        "notify": submission.notify,
        "metadata": submission.metadata,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _mask_email(address: str) -> str:
    name, _, domain = address.partition("@")
    return f"{name[:1]}…@{domain}" if domain else "…"
