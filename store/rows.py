"""The rows the store hands out, typed: each a dict with one key per column, as read.

Times are as each column stores them: ISO 8601 text in UTC (`*_at` columns written by the
store, e.g. `created_at`) or Unix seconds (the scheduling columns: `next_poll_at`,
`claim_expires_at`, `video_next_at`...). JSON columns (`request`, `metadata`) are text.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast


class TaskRow(TypedDict):
    """A row of `tasks`."""

    id: str
    provider: str
    model: str
    provider_task_id: str | None
    status: str
    progress: int | None
    video_url: str | None
    error: str | None
    cost_usd: float | None
    created_at: str
    updated_at: str
    metadata: str | None  # JSON text
    request: str | None  # JSON text, secrets blanked
    idempotency_key: str | None
    request_fingerprint: str | None
    callback_secret_hash: str | None
    submit_state: str
    next_poll_at: float | None
    poll_attempts: int
    last_event_at: float | None
    deadline_at: float | None
    held_request: str | None  # sealed
    submit_after: float | None
    claim_owner: str | None
    claim_expires_at: float | None
    video_status: str | None
    video_bytes: int | None
    video_sha256: str | None
    video_content_type: str | None
    video_kept_at: str | None
    video_expires_at: float | None
    video_error: str | None
    video_key: str | None
    video_next_at: float | None
    video_claim_owner: str | None
    video_claim_expires: float | None
    video_attempts: int


class EventRow(TypedDict):
    """A task's recorded event, as its history shows it (`events` without the keys)."""

    id: int
    source: str
    provider_status: str | None
    status: str | None
    progress: int | None
    payload: str | None  # the body as recorded (JSON text), secrets blanked
    received_at: str


def as_task(row: Any) -> TaskRow:
    """A row read with `SELECT * FROM tasks`, typed (no copy)."""
    return cast(TaskRow, row)
