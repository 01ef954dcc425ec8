"""Whether any work waits, asked in one read: `reelhook tick` builds its senders (HTTP clients,
providers, the video store) only when some piece of work is due, so an idle tick stays short.

Each question is the condition its claim uses (store/plans/submits.py, polls.py, videos.py,
outbox.py, alerts.py). Where a claim's lease is a sender's setting, any claim counts: an answer
may say "due" when the claim turns out to be live (the tick then finds nothing to take), never
"not due" for work that is.
"""

from __future__ import annotations

from collections.abc import Sequence

from store.models import DueWork
from store.plans import alerts, outbox, polls, submits, videos
from store.sql import Plan, Query, value
from store.states import VIDEO_KEPT


def due_work(now: float, pollable: Sequence[str], kept_before: str | None) -> Plan[DueWork]:
    """What waits at `now`: polls of the `pollable` providers, and kept copies made before
    `kept_before` (ISO 8601; None: copies are kept for ever) among the rest."""
    cut_off = yield _exists("tasks", submits.CUT_OFF, now=now, recorded=now)
    held = yield _exists("tasks", submits.WAITING, now=now)
    polled = bool(pollable) and (
        yield _exists("tasks", polls.POLL_DUE, now=now, providers=list(pollable))
    )
    copies = yield _exists("tasks", videos.COPY_DUE, now=now, owner="")
    old = kept_before is not None and (yield _exists(
        "tasks", f"video_status = '{VIDEO_KEPT}' AND video_kept_at < :kept_at",
        kept_at=kept_before,
    ))
    notices = yield _exists(
        "deliveries", f"({outbox.DUE_PENDING}) OR ({outbox.DUE_STALE})",
        now=now, stale_before=now,
    )
    alerted = yield _exists("alerts", alerts.ALERT_DUE, now=now, stale_before=now)
    return DueWork(*(bool(answer) for answer in (cut_off, held, polled, copies, old, notices,
                                                  alerted)))


def _exists(table: str, where: str, **params: object) -> Query:
    return value(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {where})", **params)
