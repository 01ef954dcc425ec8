"""One send of a task to its provider, as a value, and what a provider's answer records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from receiver.providers.base import CallbackTarget, Provider, Report, TaskRequest
from receiver.services.request_forms import sealed_payload
from receiver.settings import Settings
from store import EventIn, Observation
from store.states import FAILED, SUCCEEDED


@dataclass(frozen=True)
class Send:
    """Everything a send, a hold and a resend of one task need; made once per send."""

    task_id: str
    provider: Provider
    request: TaskRequest
    secret: str = field(repr=False)  # the task's callback secret
    key: str | None = None  # the client's Idempotency-Key

    @property
    def idempotency_key(self) -> str:
        """The key the provider is given: the client's, else one made from the task id."""
        return self.key or f"reelhook-{self.task_id}"

    def sealable(self) -> str:
        """The JSON kept (encrypted) while the task is held: request, secret and key."""
        payload = {"request": sealed_payload(self.request), "secret": self.secret,
                   "key": self.key}
        return json.dumps(payload)

    @classmethod
    def unsealed(cls, task_id: str, provider: Provider, opened: str) -> Send:
        """The send a held task's opened (decrypted) `sealable` JSON describes."""
        payload: dict[str, Any] = json.loads(opened)
        return cls(task_id, provider, TaskRequest(**payload["request"]), payload["secret"],
                   payload["key"])

    def callback(self, settings: Settings) -> CallbackTarget | None:
        """Where the provider calls back for this task (None: it does not call back)."""
        if not self.provider.supports_callbacks:
            return None
        url = f"{settings.public_url}/callbacks/{self.provider.name}/{self.task_id}"
        if self.provider.token_in_path:
            url = f"{url}/{self.secret}"
        events = tuple(sorted(settings.notify_on | {SUCCEEDED, FAILED}))
        return CallbackTarget(url=url, secret=self.secret, events=events)


def report_event(report: Report, source: str) -> EventIn:
    """The event a provider's report records (a poll's only when it changes something)."""
    return EventIn(
        dedupe_key=report.dedupe_key,
        source=source,
        provider_status=report.provider_status,
        seen=Observation(
            report.status, report.progress, report.video_url, report.error,
            report.video_expires_at,
        ),
        payload=report.payload,
        provider_task_id=report.provider_task_id,
        only_if_changes=source == "poll",
    )


def failed_event(dedupe_key: str, message: str) -> EventIn:
    """A send that ended the task: failed, with why."""
    return EventIn(dedupe_key, "submit", Observation(FAILED, error=message))
