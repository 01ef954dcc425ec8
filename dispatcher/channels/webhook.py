"""Webhooks to the user's own URL, signed per Standard Webhooks with the destination's secret.

Headers: `webhook-id` (the same on every retry of a delivery, so receivers can drop repeats),
`webhook-timestamp` (Unix seconds, fresh on each attempt) and `webhook-signature` (`v1,<base64
HMAC-SHA256 of "{id}.{timestamp}.{body}">`). The body is {type, timestamp, data: the task}.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from dispatcher.channels.base import Target, UrlCheck
from dispatcher.channels.http import post, refused
from dispatcher.errors import ConfigError, DestinationGone
from dispatcher.notice import Notice

USER_AGENT = "reelhook-webhooks/1"


class WebhookChannel:
    """POSTs signed JSON to the user's URL."""

    name = "webhook"
    max_batch = 1

    def __init__(
        self, session: aiohttp.ClientSession, timeout: float, url_check: UrlCheck | None = None
    ) -> None:
        self._session = session
        self._timeout = timeout
        self._check = url_check

    async def send(self, target: Target, notices: Sequence[Notice]) -> int | None:
        """POST the notice; 2xx is success, anything else raises."""
        notice = notices[0]
        url, secret = target.get("url"), target.get("secret")
        if not url or not secret:
            raise ConfigError("webhook destination needs both url and secret")
        if self._check is not None:
            self._check(self.name, url)
        now = datetime.now(UTC)
        raw = json_bytes(payload(notice, now))
        body = raw.decode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers(secret, notice.message_id, now, body),
        }
        answer = await post(self._session, url, raw, headers, self._timeout)
        if answer.status == 410:  # the receiver says the endpoint is gone for good
            raise DestinationGone(
                "HTTP 410 Gone: the endpoint is gone; destination disabled", answer.status
            )
        if not answer.ok:
            raise refused(answer)
        return answer.status


def payload(notice: Notice, now: datetime) -> dict[str, Any]:
    """The JSON body: the event type, when it occurred (the task reached the state: the same on
    every attempt, as Standard Webhooks asks; `now` only for a notice that does not say), and
    the task."""
    return {
        "type": f"task.{notice.state}",
        "timestamp": notice.occurred_at or now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "data": notice.task or {"id": notice.task_id, "status": notice.state},
    }


def json_bytes(value: Any) -> bytes:
    """JSON of the body: orjson, or the standard library for what orjson refuses (integers
    beyond 64 bits a client may have put in a task's metadata)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Any:
    """A signer per destination key, not per attempt (it decodes the key once); the keys are
    held in memory by the sends anyway. The package is imported at the first send."""
    from standardwebhooks.webhooks import Webhook

    return Webhook(secret)


def signature_headers(secret: str, message_id: str, now: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers; ConfigError when the secret is not a whsec_ key."""
    try:
        signer = _signer(secret)
    except Exception as exc:  # the package raises bare ValueError/binascii.Error/RuntimeError
        raise ConfigError("webhook secret is not a valid whsec_ key") from exc
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(message_id, now, body),
    }
