"""Email over SMTP with aiosmtplib: a plain-text and an HTML part with the same facts.

`smtps://` connects with implicit TLS (port 465 by default); `smtp://` upgrades with STARTTLS
when the server offers it, and insists on it when the URL carries credentials, so a password is
never sent in the clear (port 587 by default).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from dispatcher.channels.base import Target
from dispatcher.errors import ConfigError, Refused, Unreachable
from dispatcher.netguard import is_loopback_host
from dispatcher.notice import Notice, shorten


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send mail; `password` is never shown."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False

    @classmethod
    def from_url(cls, url: str, sender: str) -> SmtpConfig:
        """Read smtp://user:pass@host:port or smtps://...; ConfigError when malformed."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("SMTP URL must look like smtp://user:pass@host:port")
        implicit = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if implicit else 587)
        except ValueError as exc:
            raise ConfigError("SMTP URL has a malformed port") from exc
        return cls(
            host=parts.hostname, port=port, sender=sender,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
        )


class EmailChannel:
    """Sends one email per notice through the configured SMTP server."""

    name = "email"
    max_batch = 1

    def __init__(self, config: SmtpConfig | None, timeout: float) -> None:
        self._config = config
        self._timeout = timeout

    async def send(self, target: Target, notices: Sequence[Notice]) -> int | None:
        """Send the notice to `target["to"]`; returns the server's final reply code."""
        if self._config is None:
            raise ConfigError("email notices need REELHOOK_SMTP_URL and REELHOOK_EMAIL_FROM")
        recipient = target.get("to")
        if not recipient:
            raise ConfigError("email destination has no address")
        message = build_message(notices[0], self._config.sender, recipient)
        return await self.deliver(message)

    async def deliver(self, message: EmailMessage) -> int:
        """Send one message through the SMTP server; its final reply code, or DeliveryError."""
        import aiosmtplib  # here: most processes never send an email (cold starts, issue 24.4)

        config = self._config
        assert config is not None
        try:
            _, reply = await aiosmtplib.send(
                message, hostname=config.host, port=config.port,
                username=config.username, password=config.password,
                use_tls=config.implicit_tls, start_tls=_start_tls(config),
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            raise Refused(f"SMTP {first.code}: recipient refused", first.code,
                          protocol="smtp") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise Refused(f"SMTP {exc.code}: {shorten(exc.message, 200)}", exc.code,
                          protocol="smtp") from None
        except aiosmtplib.SMTPTimeoutError:
            raise Unreachable(f"no answer within {self._timeout:g} s", timeout=True) from None
        except aiosmtplib.SMTPNotSupported as exc:
            raise ConfigError(f"SMTP server: {exc}") from None
        except aiosmtplib.SMTPException as exc:
            if type(exc) is aiosmtplib.SMTPException:  # what the server cannot do: STARTTLS, AUTH
                raise ConfigError(f"SMTP server: {shorten(str(exc), 200)}") from None
            raise Unreachable(f"SMTP server unreachable: {type(exc).__name__}") from None
        except OSError as exc:
            raise Unreachable(f"SMTP server unreachable: {type(exc).__name__}") from None
        return _reply_code(reply)


def _start_tls(config: SmtpConfig) -> bool | None:
    """Implicit TLS: no STARTTLS. A login to another machine: STARTTLS required (a password is
    never sent in the clear over a network). Otherwise (no login, or a relay on this machine's
    loopback): STARTTLS when the server offers it."""
    if config.implicit_tls:
        return False
    if config.username and not is_loopback_host(config.host):
        return True
    return None


def build_message(notice: Notice, sender: str, recipient: str) -> EmailMessage:
    """The email: a subject saying what happened, then text and HTML parts with the facts."""
    message = EmailMessage()
    message["Subject"] = subject(notice)
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = f"<{notice.message_id}@reelhook>"
    message["Date"] = formatdate(usegmt=True)
    message.set_content(text_body(notice))
    message.add_alternative(html_body(notice), subtype="html")
    return message


def subject(notice: Notice) -> str:
    """E.g. "Video ready: piapi Qubico/skyreels — a woman smiles"."""
    if notice.prompt:
        return f"{notice.headline} — {shorten(notice.prompt, 60)}"
    return notice.headline


def text_body(notice: Notice) -> str:
    """The plain-text part."""
    lines = [notice.headline, ""]
    lines += [f"{name}: {value}" for name, value in notice.facts()]
    return "\n".join(lines) + "\n"


def html_body(notice: Notice) -> str:
    """The HTML part: the same facts as a table, the video as a link."""
    rows = []
    for name, value in notice.facts():
        shown = html.escape(value)
        if name == "Video" and value.startswith(("https://", "http://")):
            shown = f'<a href="{html.escape(value, quote=True)}">{shown}</a>'
        rows.append(f"<tr><th align=\"left\">{html.escape(name)}</th><td>{shown}</td></tr>")
    return (
        f"<html><body><h2>{html.escape(notice.headline)}</h2>"
        f"<table>{''.join(rows)}</table></body></html>\n"
    )


def _reply_code(reply: str) -> int:
    head = reply.strip()[:3]
    return int(head) if head.isdigit() else 250
