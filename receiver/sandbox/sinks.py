"""Local stand-ins for the places notices go, for the demo and the tests: a Slack-compatible
incoming webhook, a webhook receiver that checks our signatures with the `standardwebhooks`
package's own verifier, and a real SMTP server (aiosmtpd). Each records what it got and answers
as scripted."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Answer:
    """One scripted HTTP answer: status, body, an optional Retry-After, a delay before it."""

    status: int = 200
    body: str = "ok"
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class Received:
    """One request a sink got, and the status it answered."""

    path: str
    headers: dict[str, str]
    body: Any
    status: int
    verified: bool | None = None
    delayed: bool = False


class HttpSink:
    """An aiohttp app that records every POST and answers from `script`, then 200."""

    def __init__(self) -> None:
        self.script: list[Answer] = []
        self.received: list[Received] = []
        self.url = ""
        self._arrived = asyncio.Condition()
        self._released = asyncio.Event()

    def app(self) -> web.Application:
        """The app to serve (with receiver.sandbox.providers.LocalServer, for instance)."""
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._receive)
        return app

    @property
    def accepted(self) -> list[Received]:
        """The requests answered with 2xx at once (a delayed answer stands for a hang)."""
        return [item for item in self.received if 200 <= item.status < 300 and not item.delayed]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until `count` requests were accepted; return them all."""
        await self.wait_until(lambda: len(self.accepted) >= count, timeout)
        return self.accepted

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until `condition()` holds, checked whenever a request arrives."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(condition), timeout)

    async def _receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = _json(raw)
        answer = self.script.pop(0) if self.script else (self.refusal(body) or Answer())
        item = Received(request.path, dict(request.headers), body, answer.status,
                        self.verify(raw, request.headers), answer.delay > 0)
        async with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()
        if answer.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), answer.delay)
        headers = {"Retry-After": answer.retry_after} if answer.retry_after else {}
        return web.Response(status=answer.status, text=answer.body, headers=headers)

    def release(self) -> None:
        """End every delayed answer now (before stopping the server)."""
        self._released.set()

    def verify(self, raw: bytes, headers: Any) -> bool | None:
        """Whether the signature is good (None: this sink does not check signatures)."""
        return None

    def refusal(self, body: Any) -> Answer | None:
        """The answer to a message this receiver refuses by its own rules (None: accepted)."""
        return None


# Slack's limits on a message (Block Kit reference, chat.postMessage), and the total of block
# text past which Slack answers msg_blocks_too_long (about 13,000 characters, seen by users).
SLACK_TEXT_MAX = 40_000
SLACK_BLOCKS_MAX = 50
SLACK_SECTION_MAX = 3_000
SLACK_HEADER_MAX = 150
SLACK_FIELDS_MAX = 10
SLACK_FIELD_MAX = 2_000
SLACK_BLOCK_TEXT_TOTAL = 12_000


class SlackSink(HttpSink):
    """A Slack-compatible incoming webhook: any path, JSON messages, answers `ok`; a message
    past Slack's limits is answered 400 with Slack's error (msg_too_long, invalid_blocks,
    msg_blocks_too_long, no_text), as Slack does."""

    def refusal(self, body: Any) -> Answer | None:
        """Slack's 400 for a message past its limits."""
        error = slack_error(body)
        return None if error is None else Answer(status=400, body=error)

    def texts(self) -> list[str]:
        """The `text` of every accepted message."""
        return [str(item.body.get("text", "")) for item in self.accepted]


def slack_error(message: Any) -> str | None:
    """What Slack answers to a message past its limits, or None when it takes it."""
    if not isinstance(message, dict) or not (message.get("text") or message.get("blocks")):
        return "no_text"
    if len(str(message.get("text", ""))) > SLACK_TEXT_MAX:
        return "msg_too_long"
    blocks = message.get("blocks") or []
    if len(blocks) > SLACK_BLOCKS_MAX or not all(_block_fits(block) for block in blocks):
        return "invalid_blocks"
    if sum(len(text) for block in blocks for text in _texts(block)) > SLACK_BLOCK_TEXT_TOTAL:
        return "msg_blocks_too_long"
    return None


def _block_fits(block: dict[str, Any]) -> bool:
    kind = block.get("type")
    text = str((block.get("text") or {}).get("text", ""))
    fields = block.get("fields") or []
    if kind == "header":
        return 0 < len(text) <= SLACK_HEADER_MAX
    if kind == "section":
        return (len(text) <= SLACK_SECTION_MAX and len(fields) <= SLACK_FIELDS_MAX
                and all(len(str(f.get("text", ""))) <= SLACK_FIELD_MAX for f in fields)
                and bool(text or fields))
    return True


def _texts(block: dict[str, Any]) -> list[str]:
    texts = [str((block.get("text") or {}).get("text", ""))]
    texts += [str(item.get("text", "")) for item in block.get("fields") or []]
    texts += [str(item.get("text", "")) for item in block.get("elements") or []
              if isinstance(item.get("text"), str)]
    return texts


class WebhookSink(HttpSink):
    """A webhook receiver that verifies Standard Webhooks signatures with the reference code."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def verify(self, raw: bytes, headers: Any) -> bool | None:
        """True when the standardwebhooks verifier accepts the request."""
        try:
            Webhook(self.secret).verify(raw, dict(headers))
        except WebhookVerificationError:
            return False
        return True


@dataclass
class MailSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts.

    `script` holds SMTP replies (e.g. "451 4.3.0 try later") to give instead of accepting.
    """

    host: str = "127.0.0.1"
    port: int = 0
    script: list[str] = field(default_factory=list)
    messages: list[EmailMessage] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    # With a login, the server offers AUTH over plain SMTP (as a relay on loopback may) and
    # accepts only that login; `logins` records every client that logged in with it.
    login: tuple[str, str] | None = None
    logins: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """The smtp:// URL of this server."""
        return f"smtp://{self.host}:{self.port}"

    async def start(self) -> MailSink:
        """Listen on a free loopback port."""
        loop = asyncio.get_running_loop()
        extra: dict[str, Any] = {}
        if self.login is not None:
            extra = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="reelhook-sink", loop=loop, **extra), self.host, self.port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        given = (data.login.decode(), data.password.decode()) if isinstance(
            data, LoginPassword) else None
        if given is None or self.login is None or given != self.login:
            return AuthResult(success=False, handled=False)
        self.logins.append(given[0])
        return AuthResult(success=True)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """aiosmtpd's hook: keep the message, or give the next scripted reply."""
        if self.script:
            reply = self.script.pop(0)
            self.refused.append(reply)
            return reply
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until `count` messages were accepted."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{len(self.messages)} of {count} emails arrived")
            await asyncio.sleep(0.02)
        return self.messages


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
