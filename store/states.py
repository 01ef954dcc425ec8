"""The task state machine: pure functions, no I/O.

queued -> running -> succeeded | failed | cancelled. Terminal states are final, states never go
back, progress only rises.
"""

from __future__ import annotations

from typing import NamedTuple

QUEUED, RUNNING = "queued", "running"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
UNFINISHED = (QUEUED, RUNNING)
DEFAULT_NOTIFY_ON = frozenset({SUCCEEDED, FAILED})  # REELHOOK_NOTIFY_ON when unset
# The unfinished states as an SQL list, for the store's queries.
UNFINISHED_SQL = "(" + ", ".join(f"'{state}'" for state in UNFINISHED) + ")"
TERMINAL_SQL = "(" + ", ".join(f"'{state}'" for state in sorted(TERMINAL)) + ")"
# A kept video: its copy is pending (a job), kept, failed, off (REELHOOK_VIDEO_STORE=off) or
# deleted (REELHOOK_VIDEO_KEEP_DAYS); None while the task has not succeeded with a video.
VIDEO_PENDING, VIDEO_KEPT, VIDEO_FAILED, VIDEO_OFF, VIDEO_DELETED = (
    "pending", "kept", "failed", "off", "deleted"
)
VIDEO_STATUSES = (VIDEO_PENDING, VIDEO_KEPT, VIDEO_FAILED, VIDEO_OFF, VIDEO_DELETED)
_RANK = {QUEUED: 0, RUNNING: 1, SUCCEEDED: 2, FAILED: 2, CANCELLED: 2}


# Built several times per event: NamedTuples (immutable, cheap to make).
class TaskState(NamedTuple):
    """The parts of a task that events can change."""

    status: str
    progress: int = 0
    video_url: str | None = None
    error: str | None = None


class Observation(NamedTuple):
    """What one provider event says about a task (None: the event does not say)."""

    status: str | None = None
    progress: int | None = None
    video_url: str | None = None
    error: str | None = None
    video_expires_at: float | None = None  # when the provider's link dies (Unix seconds)


NO_OBSERVATION = Observation()


def is_terminal(status: str) -> bool:
    """True for succeeded, failed and cancelled."""
    return status in TERMINAL


def advance(current: TaskState, seen: Observation) -> TaskState:
    """Apply one observation to a task; late, repeated or backward events change nothing."""
    if is_terminal(current.status):
        return current
    status = current.status
    if seen.status is not None and _RANK[seen.status] > _RANK[status]:
        status = seen.status
    progress = max(current.progress, 0 if seen.progress is None else clamp_progress(seen.progress))
    if status == SUCCEEDED:
        progress = 100
    return TaskState(
        status=status,
        progress=progress,
        video_url=seen.video_url if is_web_url(seen.video_url) else current.video_url,
        error=seen.error if status in (FAILED, CANCELLED) and seen.error else current.error,
    )


MAX_VIDEO_URL = 8192  # characters; past this no browser, mail client or receiver takes it


def is_web_url(url: str | None) -> bool:
    """True for an http(s) URL of at most MAX_VIDEO_URL characters: the only kind a task's
    video_url may hold (a provider's `javascript:` or `file:` link, or one of megabytes, is
    kept in its event, never shown or sent as the video)."""
    return (bool(url) and len(str(url)) <= MAX_VIDEO_URL
            and str(url).lower().startswith(("https://", "http://")))


def clamp_progress(progress: int) -> int:
    """Progress as a percentage from 0 to 100."""
    return max(0, min(100, progress))
