"""Notices in the demo: a Slack-compatible sink and a real SMTP server on loopback, and a report
of what each received per task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from receiver.sandbox.providers import LocalServer
from receiver.sandbox.sinks import MailSink, SlackSink

DEMO_SENDER = "reelhook-demo@example.com"
DEMO_RECIPIENT = "you@example.com"


@dataclass
class NoticeSinks:
    """Where the demo's notices land."""

    slack: SlackSink
    mail: MailSink

    def settings(self) -> dict[str, Any]:
        """Settings fields that route every notice to these sinks, with quick retries."""
        return {
            "slack_webhook_url": self.slack.url,
            "smtp_url": self.mail.url,
            "email_from": DEMO_SENDER,
            "email_to": (DEMO_RECIPIENT,),
            "retry_schedule": (0.2, 0.5, 1.0),
            "dispatch_interval": 0.1,
        }


@contextlib.asynccontextmanager
async def notice_sinks() -> AsyncIterator[NoticeSinks]:
    """Start the Slack sink and the SMTP server; stop them afterwards."""
    slack = SlackSink()
    mail = await MailSink().start()
    try:
        async with LocalServer(slack.app()) as server:
            slack.url = f"{server.url}/services/TDEMO/BDEMO/demo-hook-token"
            print(f"Slack sink on {server.url}, SMTP server on {mail.host}:{mail.port}")
            yield NoticeSinks(slack, mail)
            slack.release()
    finally:
        await mail.stop()


async def print_notices(
    client: httpx.AsyncClient, sinks: NoticeSinks, tasks: list[dict[str, Any]],
    timeout: float = 15.0,
) -> None:
    """Wait for every task's notices to settle, then print what each sink received per task."""
    for task in tasks:
        deliveries = await _settled(client, task["id"], timeout)
        print(f"\n{task['id']} notices:")
        for delivery in deliveries:
            destination = delivery["destination"]
            tries = len(delivery["attempts"])
            print(f"  {destination['channel']:<6} {destination['label']:<24} "
                  f"{delivery['state']}: {delivery['status']} after {tries} attempt(s)")
        for text in _slack_lines(sinks.slack, task["id"]):
            print(f"    Slack got: {text}")
        for message in sinks.mail.messages:
            if task["id"] in message.get_body(("plain",)).get_content():  # type: ignore[union-attr]
                print(f"    Mail to {message['To']}: {message['Subject']}")


def _slack_lines(slack: SlackSink, task_id: str) -> list[str]:
    lines = []
    for text in slack.texts():
        if task_id in text:
            first = text.splitlines()[0]
            lines.append(first if task_id in first else f"{first} (digest naming this task)")
    return lines


async def _settled(client: httpx.AsyncClient, task_id: str, timeout: float) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        deliveries: list[Any] = (
            await client.get(f"/v1/tasks/{task_id}/deliveries")
        ).json()["deliveries"]
        open_ = [d for d in deliveries if d["status"] in ("pending", "sending")]
        if not open_ or asyncio.get_running_loop().time() > deadline:
            return deliveries
        await asyncio.sleep(0.05)
