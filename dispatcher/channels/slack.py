"""Slack incoming webhooks: a Block Kit message with a plain `text` fallback.

Slack answers 200 `ok`; 429 with Retry-After when we post too fast; 404 `no_service` or
`channel_not_found` and 410 `channel_is_archived` when the webhook or its channel is gone, which
disables the destination. Several notices waiting for one webhook become one digest message.

Every message is built inside Slack's limits (40,000 characters of text, 50 blocks, 3,000 per
section, 150 per header, and about 12,000 of block text in all, past which Slack answers
msg_blocks_too_long): a digest names at most DIGEST_MAX tasks in lines of at most LINE_MAX
characters, so a larger burst becomes several digests. Should Slack still answer 400 to a message
we built, that is our bug: it is logged as one, and the notices go as a plain-text message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp

from dispatcher.channels.base import Target, UrlCheck
from dispatcher.channels.http import Answer, post, refused
from dispatcher.errors import ConfigError, DestinationGone
from dispatcher.notice import Notice, shorten
from store.states import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED

log = logging.getLogger("reelhook.dispatcher")
ICONS = {SUCCEEDED: "✅", FAILED: "❌", CANCELLED: "⏹️", QUEUED: "🕒", RUNNING: "⏳"}
LINES_PER_SECTION = 10
LINE_MAX = 290  # characters of one digest line: ten lines fit a 3,000-character section
DIGEST_MAX = 35  # tasks per digest: 35 lines of LINE_MAX stay under 12,000 of block text
PLAIN_MAX = 12_000  # characters of the plain-text message sent after a refused one
_GONE = frozenset({404, 410})
_FIELDS = ("State", "Provider", "Model", "Duration", "Took", "Cost")


class SlackChannel:
    """Posts to Slack incoming webhook URLs."""

    name = "slack"
    max_batch = DIGEST_MAX

    def __init__(
        self, session: aiohttp.ClientSession, timeout: float, url_check: UrlCheck | None = None
    ) -> None:
        self._session = session
        self._timeout = timeout
        self._check = url_check

    async def send(self, target: Target, notices: Sequence[Notice]) -> int | None:
        """Post one message (a digest when there are several notices)."""
        url = target.get("url")
        if not url:
            raise ConfigError("slack destination has no url")
        if self._check is not None:
            self._check(self.name, url)
        message = single_message(notices[0]) if len(notices) == 1 else digest_message(notices)
        body = json.dumps(message).encode()
        headers = {"Content-Type": "application/json"}
        answer = await post(self._session, url, body, headers, self._timeout)
        if answer.status == 400:
            answer = await self._plain_instead(url, notices, answer)
        if answer.ok:
            return answer.status
        if answer.status in _GONE:
            reason = answer.text.strip()[:60] or "gone"
            raise DestinationGone(
                f"Slack answered {answer.status} {reason}: the webhook or its channel is gone;"
                " destination disabled", answer.status,
            )
        raise refused(answer)


    async def _plain_instead(self, url: str, notices: Sequence[Notice], refused: Answer) -> Answer:
        """After a 400 to a message we built: report the bug, send the notices as plain text."""
        log.error(
            "Slack refused a message reelhook built for %d notices (HTTP 400 %s): this is a bug"
            " in reelhook, please report it; sending them as a plain-text message instead",
            len(notices), " ".join(refused.text.split())[:100],
        )
        body = json.dumps(plain_message(notices)).encode()
        return await post(self._session, url, body, {"Content-Type": "application/json"},
                          self._timeout)


def plain_message(notices: Sequence[Notice]) -> dict[str, Any]:
    """The notices as one short plain-text message, no blocks."""
    title = f"{len(notices)} video tasks" if len(notices) > 1 else notices[0].headline
    lines = [escape(title), *(digest_line(notice) for notice in notices)]
    return {"text": shorten_lines(lines, PLAIN_MAX)}


def shorten_lines(lines: Sequence[str], limit: int) -> str:
    """As many whole lines as fit in `limit` characters, then how many were left out."""
    kept: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        if size + len(line) + 40 > limit:
            kept.append(f"… and {len(lines) - index} more")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def single_message(notice: Notice) -> dict[str, Any]:
    """The Block Kit message of one notice."""
    facts = dict(notice.facts())
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"{ICONS.get(notice.state, '')} {notice.headline}")},
    ]
    if notice.prompt:
        blocks.append(_section(f"*Prompt*\n>{escape(shorten(notice.prompt))}"))
    fields = [_mrkdwn(f"*{name}*\n{escape(facts[name])}") for name in _FIELDS if name in facts]
    blocks.append({"type": "section", "fields": fields})
    if notice.error:
        blocks.append(_section(f"*Error*\n```{escape(shorten(notice.error, 1500))}```"))
    if _linkable(notice.video_url):
        button = {"type": "button", "text": _plain("Open video"), "url": notice.video_url,
                  "action_id": "open_video", "style": "primary"}
        blocks.append({"type": "actions", "elements": [button]})
    blocks.append({"type": "context", "elements": [_mrkdwn(f"Task `{notice.task_id}`")]})
    return {"text": fallback_text(notice), "blocks": blocks}


def digest_message(notices: Sequence[Notice]) -> dict[str, Any]:
    """One message naming every task of a burst, ten per section."""
    counts: dict[str, int] = {}
    for notice in notices:
        counts[notice.state] = counts.get(notice.state, 0) + 1
    summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    title = f"{len(notices)} video tasks: {summary}"
    lines = [digest_line(notice) for notice in notices]
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(shorten(title, 150))}]
    for start in range(0, len(lines), LINES_PER_SECTION):
        blocks.append(_section("\n".join(lines[start : start + LINES_PER_SECTION])))
    text = "\n".join([title, *lines])
    return {"text": text, "blocks": blocks}


def digest_line(notice: Notice) -> str:
    """One task in a digest: icon, state, task id, model, and the video link or the error."""
    icon = ICONS.get(notice.state, "•")
    line = f"{icon} *{notice.state}* `{notice.task_id}` {escape(notice.model)}"
    if _linkable(notice.video_url) and len(str(notice.video_url)) < 200:
        link = escape(str(notice.video_url)).replace("|", "%7C")
        line += f" <{link}|video>"
    elif notice.error:
        line += f" {escape(shorten(notice.error, 80))}"
    return line if len(line) <= LINE_MAX else f"{line[:LINE_MAX - 1]}…"


def fallback_text(notice: Notice) -> str:
    """The plain text shown in notifications and by clients without Block Kit; escaped like
    mrkdwn, since Slack reads `<!channel>` and `<url|label>` in it too."""
    parts = [notice.headline]
    if notice.prompt:
        parts.append(f"“{shorten(notice.prompt, 80)}”")
    if notice.error:
        parts.append(f"error: {shorten(notice.error, 200)}")
    if notice.video_url:
        parts.append(notice.video_url)
    parts.append(f"task {notice.task_id}")
    return escape(" | ".join(parts))


def escape(text: str) -> str:
    """Text safe inside Slack mrkdwn (&, < and > are control characters there)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _linkable(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("https://", "http://")) and len(str(url)) <= 3000


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": shorten(text, 150), "emoji": True}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text[:3000])}
