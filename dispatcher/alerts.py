"""Sending the operator's alerts (store/plans/alerts.py) to REELHOOK_ALERTS_TO: a signed Standard
Webhooks message, a Slack message or an email, claimed, retried on the notice schedule, and
recorded; never an alert about an alert."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aiohttp

from dispatcher.channels.email import EmailChannel
from dispatcher.channels.http import post, refused
from dispatcher.channels.slack import escape
from dispatcher.channels.webhook import json_bytes, signature_headers
from dispatcher.config import DispatchConfig
from dispatcher.errors import ConfigError, DeliveryError, DispatchError
from dispatcher.retry import outcome_of, retry_after
from store.errors import StoreUnavailable
from store.interface import AlertStore
from store.models import iso_from_epoch
from store.rows import AlertRow

log = logging.getLogger("reelhook.alerts")
BATCH = 20  # alerts a look sends at most, one claimed at a time (each within the lease)
TEXT_LIMIT = 2000


@dataclass(frozen=True)
class AlertTarget:
    """Where alerts go: a channel and its address (a URL or an email address), and the
    `whsec_` key that signs webhook alerts."""

    channel: str
    address: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)


def alert_body(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON of an alert: {type, timestamp, data: {destination (the address's redacted
    label), destinations (the registered ones at that address: [{id, name}]), reason,
    task_id}}."""
    return {
        "type": alert["kind"],
        "timestamp": iso_from_epoch(float(alert["created_at"])),
        "data": {"destination": alert["label"], "destinations": alert.get("destinations", []),
                 "reason": alert["reason"], "task_id": alert["task_id"]},
    }


def _destination_words(alert: Mapping[str, Any]) -> str:
    """The registered destinations' names with the address's label, or the label alone."""
    names = [str(named["name"]) for named in alert.get("destinations", [])]
    return f"{', '.join(names)} ({alert['label']})" if names else str(alert["label"])


def alert_text(alert: Mapping[str, Any]) -> str:
    """One line saying what happened, for chat and the email's subject and body."""
    words = {"notice.dead": "a notice could not be delivered to",
             "destination.disabled": "disabled the destination",
             "destination.recovered": "notices get through again to"}
    text = f"reelhook {alert['kind']}: {words.get(alert['kind'], '')} {_destination_words(alert)}"
    if alert["reason"]:
        text += f": {alert['reason']}"
    if alert["task_id"]:
        text += f" (task {alert['task_id']})"
    return text[:TEXT_LIMIT]


class AlertSender:
    """Claims due alerts and sends each once, recording what became of it."""

    def __init__(
        self, alerts: AlertStore, target: AlertTarget, config: DispatchConfig,
        session_factory: Callable[[], aiohttp.ClientSession], owner: str,
    ) -> None:
        self.alerts = alerts
        self.target = target
        self.config = config
        self.owner = owner
        self._session_factory = session_factory

    async def run(self) -> None:
        """Send due alerts every poll interval until cancelled; a database outage waits."""
        while True:
            with contextlib.suppress(StoreUnavailable):
                await self.send_due()
            await asyncio.sleep(self.config.poll_interval)

    async def send_due(self) -> int:
        """Send every due alert once; how many were tried."""
        sent = 0
        session: aiohttp.ClientSession | None = None
        try:
            while sent < BATCH:
                now = time.time()
                due = await self.alerts.claim(now, now - self.config.lease, self.owner, 1)
                if not due:
                    break
                session = session or self._session_factory()
                await self._attempt(session, due[0])
                sent += 1
        finally:
            if session is not None:
                await session.close()
        return sent

    async def _attempt(self, session: aiohttp.ClientSession, alert: AlertRow) -> None:
        status_code: int | None = None
        error: DispatchError | None = None
        try:
            async with asyncio.timeout(self.config.timeout):
                status_code = await self._send(session, alert)
        except TimeoutError:
            error = DeliveryError(f"no answer within {self.config.timeout:g} s")
        except DispatchError as exc:
            error = exc
        outcome = outcome_of(error, int(alert["attempts"]) + 1, status_code)
        wait = None if error is None else retry_after(outcome, self.config.schedule)
        if error is not None:
            log.warning("alert %s (%s) not sent: %s", alert["id"], alert["kind"], outcome.error)
        await self.alerts.settle(int(alert["id"]), self.owner, outcome.error,
                                 None if wait is None else time.time() + wait)

    async def _send(self, session: aiohttp.ClientSession, alert: AlertRow) -> int | None:
        channel, address = self.target.channel, self.target.address
        if channel == "email":
            return await EmailChannel(self.config.smtp, self.config.timeout).deliver(
                self._email(alert))
        if channel == "slack":
            # Names and reasons are people's and receivers' text: no <!channel> or disguised link.
            raw, headers = json_bytes({"text": escape(alert_text(alert))}), {}
        else:
            if not self.target.secret:
                raise ConfigError("webhook alerts need REELHOOK_ALERTS_SECRET")
            raw = json_bytes(alert_body(alert))
            headers = signature_headers(self.target.secret, f"alert_{alert['id']}",
                                        datetime.now(UTC), raw.decode())
        answer = await post(session, address, raw,
                            {"Content-Type": "application/json", **headers}, self.config.timeout)
        if not answer.ok:
            raise refused(answer)
        return answer.status

    def _email(self, alert: AlertRow) -> EmailMessage:
        if self.config.smtp is None:
            raise ConfigError("email alerts need REELHOOK_SMTP_URL and REELHOOK_EMAIL_FROM")
        message = EmailMessage()
        message["Subject"] = alert_text(alert)[:150]
        message["From"] = self.config.smtp.sender
        message["To"] = self.target.address
        message.set_content(alert_text(alert) + "\n")
        return message
