"""The polling schedule: which sent, unfinished tasks are due to be asked about, and when next.

A task is polled while it is unfinished, sent, and its provider can be asked (`next_poll_at`,
`poll_attempts`, `deadline_at`). Due polls are claimed under a lease with an owner id; on
PostgreSQL rows another poller is claiming are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

from store.rows import DuePoll
from store.sql import Plan, count, many, rows
from store.states import UNFINISHED_SQL

POLL_DUE = (
    f"status IN {UNFINISHED_SQL} AND submit_state = 'sent'"
    " AND provider_task_id IS NOT NULL AND provider = ANY(:providers)"
    " AND (next_poll_at IS NULL OR next_poll_at <= :now)"
)
DUE_POLLS = (
    "SELECT id, provider, provider_task_id, status, progress, video_url, next_poll_at,"
    f" poll_attempts, last_event_at, deadline_at FROM tasks WHERE {POLL_DUE}"
    " ORDER BY next_poll_at NULLS FIRST LIMIT :limit"
)


def claim_polls(
    now: float, providers: Sequence[str], limit: int, owner: str, lease: float
) -> Plan[list[DuePoll]]:
    """Take due polls for `owner`: each is pushed `lease` seconds on, so no other poller takes it
    until this one reschedules it or the lease runs out. The rows are as they were."""
    if not providers:
        return []
    due: list[DuePoll] = yield rows(
        DUE_POLLS + " FOR UPDATE SKIP LOCKED", now=now, providers=list(providers), limit=limit
    )
    if due:
        yield many(
            "UPDATE tasks SET next_poll_at = :until, claim_owner = :owner,"
            " claim_expires_at = :until WHERE id = :id",
            ({"until": now + lease, "owner": owner, "id": task["id"]} for task in due),
        )
    return due


def release_polls(task_ids: Sequence[str], owner: str, now: float) -> Plan[None]:
    """Hand back polls a stopping poller did not finish: due again at `now`, for whichever
    poller looks next, instead of when the lease would have run out."""
    if task_ids:
        yield count(
            "UPDATE tasks SET next_poll_at = :now, claim_owner = NULL, claim_expires_at = NULL"
            " WHERE id = ANY(:ids) AND claim_owner = :owner AND submit_state = 'sent'",
            now=now, ids=list(task_ids), owner=owner,
        )


def set_poll(
    task_id: str, next_poll_at: float, attempts: int, deadline_at: float | None = None
) -> Plan[None]:
    """Schedule the task's next poll, ending its claim; the deadline is set once and then kept."""
    yield count(
        "UPDATE tasks SET next_poll_at = :next_poll_at, poll_attempts = :attempts,"
        " claim_owner = NULL, claim_expires_at = NULL,"
        " deadline_at = COALESCE(deadline_at, :deadline_at) WHERE id = :id",
        next_poll_at=next_poll_at, attempts=attempts, deadline_at=deadline_at, id=task_id,
    )
