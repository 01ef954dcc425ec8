"""Kept videos: the durable job that copies a succeeded task's video into the video store.

A task that succeeds with a video (and a video store) is `pending` with `video_next_at`; a keeper
claims due copies under a lease with its owner id (on PostgreSQL rows another keeper is claiming
are skipped), and records the copy `kept` (size, SHA-256, type, key), `failed` with the reason, or
due again after a back-off. The copy kept or failed brings the task's waiting notices forward
(kept, they carry the link that lasts); else they go at REELHOOK_VIDEO_WAIT after the success.
"""

from __future__ import annotations

from collections.abc import Sequence

from store.interface import DELIVERIES, TASKS
from store.models import KeptCopy, utc_now_iso
from store.rows import KeptVideo, VideoCopy
from store.sql import Announce, Plan, count, rows, value
from store.states import VIDEO_DELETED, VIDEO_FAILED, VIDEO_KEPT, VIDEO_OFF, VIDEO_PENDING

# A keeper's own claims count as due again: one whose commit went through unseen (the
# connection died before the answer) is not left until the lease ends. Each keeper (one per
# process) makes its copies pass by pass, so none of its own is in progress when it claims.
COPY_DUE = (
    f"video_status = '{VIDEO_PENDING}' AND video_next_at <= :now"
    " AND (COALESCE(video_claim_expires, 0) < :now OR video_claim_owner = :owner)"
)
CLAIM = (
    "UPDATE tasks SET video_claim_owner = :owner, video_claim_expires = :until"
    f" WHERE id IN (SELECT id FROM tasks WHERE {COPY_DUE} ORDER BY video_next_at LIMIT :limit"
    " FOR UPDATE SKIP LOCKED)"
    " RETURNING id, provider, video_url, video_expires_at, video_attempts"
)
_MINE = f"id = :id AND video_claim_owner = :owner AND video_status = '{VIDEO_PENDING}'"
_END_CLAIM = "video_claim_owner = NULL, video_claim_expires = NULL"
# Notices that waited for the copy (queued with the task's success, never tried yet) are due now.
BRING_NOTICES_FORWARD = (
    "UPDATE deliveries SET next_attempt_at = :at WHERE task_id = :id AND status = 'pending'"
    " AND attempts = 0 AND next_attempt_at > :at"
)


def claim_copies(now: float, limit: int, owner: str, lease: float) -> Plan[list[VideoCopy]]:
    """Take due copies for `owner` for `lease` seconds (its own earlier claims included): each
    is made by one keeper at a time."""
    taken = yield rows(CLAIM, now=now, limit=limit, owner=owner, until=now + lease)
    return taken  # type: ignore[no-any-return]


def keep(task_id: str, owner: str, copy: KeptCopy, at: float) -> Plan[bool]:
    """Record the copy kept (if the claim is still `owner`'s); its notices go now."""
    done = yield count(
        f"UPDATE tasks SET video_status = '{VIDEO_KEPT}', video_key = :key, video_bytes = :size,"
        " video_sha256 = :sha256, video_content_type = :content_type, video_kept_at = :now,"
        f" video_error = NULL, video_next_at = NULL, {_END_CLAIM} WHERE {_MINE}",
        id=task_id, owner=owner, key=copy.key, size=copy.bytes, sha256=copy.sha256,
        content_type=copy.content_type, now=utc_now_iso(),
    )
    return (yield from _settled(task_id, done, at))


def fail(task_id: str, owner: str, reason: str, at: float) -> Plan[bool]:
    """Record that no copy can be made, with the reason; its notices go now, with the link."""
    done = yield count(
        f"UPDATE tasks SET video_status = '{VIDEO_FAILED}', video_error = :reason,"
        f" video_next_at = NULL, video_attempts = video_attempts + 1, {_END_CLAIM}"
        f" WHERE {_MINE}",
        id=task_id, owner=owner, reason=reason,
    )
    return (yield from _settled(task_id, done, at))


def retry(task_id: str, owner: str, reason: str, next_at: float, at: float) -> Plan[bool]:
    """The copy failed for now: due again at `next_at`, the reason kept. Its notices keep
    waiting for the copy kept or failed, until REELHOOK_VIDEO_WAIT after the success at most
    (when they go with the provider's link)."""
    done = yield count(
        "UPDATE tasks SET video_error = :reason, video_next_at = :next_at,"
        f" video_attempts = video_attempts + 1, {_END_CLAIM} WHERE {_MINE}",
        id=task_id, owner=owner, reason=reason, next_at=next_at,
    )
    if done != 1:
        return False
    yield Announce(TASKS, task_id)
    return True


def release(task_ids: Sequence[str], owner: str) -> Plan[None]:
    """Hand back claims a stopping keeper did not finish: due again at once."""
    if task_ids:
        yield count(
            f"UPDATE tasks SET {_END_CLAIM} WHERE id = ANY(:ids) AND video_claim_owner = :owner",
            ids=list(task_ids), owner=owner,
        )


def backfill(now: float) -> Plan[int]:
    """Queue copies for succeeded tasks that have none (kept links only, or from before videos
    were kept) and whose link has not expired; returns how many."""
    queued = yield count(
        f"UPDATE tasks SET video_status = '{VIDEO_PENDING}', video_next_at = :now,"
        " video_error = NULL, video_attempts = 0"
        " WHERE status = 'succeeded' AND video_url IS NOT NULL"
        f" AND (video_status IS NULL OR video_status = '{VIDEO_OFF}')"
        " AND (video_expires_at IS NULL OR video_expires_at > :now)",
        now=now,
    )
    if queued:
        yield Announce(TASKS)
    return int(queued)


def kept_before(kept_at: str, limit: int) -> Plan[list[KeptVideo]]:
    """Kept copies made before `kept_at` (ISO 8601), oldest first: retention's candidates."""
    found = yield rows(
        f"SELECT id, video_key FROM tasks WHERE video_status = '{VIDEO_KEPT}'"
        " AND video_kept_at < :kept_at ORDER BY video_kept_at LIMIT :limit",
        kept_at=kept_at, limit=limit,
    )
    return found  # type: ignore[no-any-return]


def mark_deleted(task_id: str, reason: str) -> Plan[bool]:
    """Record a kept copy deleted, and why."""
    done = yield count(
        f"UPDATE tasks SET video_status = '{VIDEO_DELETED}', video_error = :reason"
        f" WHERE id = :id AND video_status = '{VIDEO_KEPT}'",
        id=task_id, reason=reason,
    )
    if done:
        yield Announce(TASKS, task_id)
    return bool(done == 1)


def next_due_at() -> Plan[float | None]:
    """When the earliest pending copy falls due (Unix seconds), or None."""
    earliest = yield value(
        f"SELECT MIN(video_next_at) FROM tasks WHERE video_status = '{VIDEO_PENDING}'"
    )
    return None if earliest is None else float(earliest)


def _settled(task_id: str, done: int, at: float) -> Plan[bool]:
    if done != 1:
        return False
    if (yield count(BRING_NOTICES_FORWARD, id=task_id, at=at)):
        yield Announce(DELIVERIES)
    yield Announce(TASKS, task_id)
    return True
