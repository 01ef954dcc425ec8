"""The rows the store hands out, typed: each a dict with one key per column, as read.

Times are one of two kinds per column, the same on both databases: ISO 8601 text in UTC with
milliseconds (`*_at` columns of record, e.g. `created_at`; a timestamptz on PostgreSQL, read as
that text) or Unix seconds (the scheduling columns: `next_poll_at`, `claim_expires_at`,
`video_next_at`...). JSON columns (`request`, `metadata`, `payload`) are JSON text.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast


class TaskDocument(TypedDict):
    """The columns of a task a notice shows: in every task row, and beside each claimed
    delivery."""

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
    video_status: str | None
    video_bytes: int | None
    video_sha256: str | None
    video_content_type: str | None
    video_kept_at: str | None
    video_expires_at: float | None
    video_error: str | None


class TaskRow(TaskDocument):
    """A row of `tasks`."""

    id: str
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


class DueDelivery(TypedDict):
    """A delivery due now (`OutboxStore.due`): just enough to choose what to claim."""

    delivery_id: int
    destination_id: int
    channel: str
    route_key: str | None
    route_disabled: str | None  # why the address is disabled (any destination to it)
    stopped: str | None  # "destination paused" or "destination deleted"


class SendableDelivery(TaskDocument):
    """A claimed delivery with its destination and its task (`OutboxStore.claim_rows`)."""

    delivery_id: int
    task_id: str
    state: str  # the task state the notice announces
    attempts: int | None
    cycle_start: int
    queued_at: str | None
    destination_id: int
    channel: str
    target: str  # sealed
    label: str
    route_key: str | None
    route_disabled: str | None


class AttemptLog(TypedDict):
    """One attempt to send a delivery, as its history shows it."""

    started_at: str
    duration_ms: float | None
    status_code: int | None
    error: str | None
    outcome: str


class Delivery(TypedDict):
    """A row of `deliveries` with its destination's names and its attempts, oldest first."""

    id: int
    task_id: str
    state: str
    destination_id: int | None
    status: str
    attempts: int | None
    next_attempt_at: float | None
    last_error: str | None
    created_at: str | None
    updated_at: str | None
    claimed_at: float | None
    claim_owner: str | None
    cycle_start: int
    delivered_at: str | None
    channel: str
    label: str
    name: str | None
    disabled_reason: str | None
    attempt_log: list[AttemptLog]


class DuePoll(TypedDict):
    """A task whose poll is due (`PollScheduleStore.claim_due`), as it was when claimed."""

    id: str
    provider: str
    provider_task_id: str
    status: str
    progress: int | None
    video_url: str | None
    next_poll_at: float | None
    poll_attempts: int
    last_event_at: float | None
    deadline_at: float | None


class HeldSend(TypedDict):
    """A held submission whose time has come (`SubmitSlotsStore.held`)."""

    id: str
    provider: str
    held_request: str  # sealed


class CutOffSend(TypedDict):
    """A send cut off with its claim's lease run out (`SubmitSlotsStore.interrupted`)."""

    id: str
    provider: str
    sealed: bool  # the request is still sealed, so the send can be made again


class VideoCopy(TypedDict):
    """A video copy claimed to be made (`VideoCopyStore.claim_copies`)."""

    id: str
    provider: str
    video_url: str  # a copy is queued only for a success with a video link
    video_expires_at: float | None
    video_attempts: int


class KeptVideo(TypedDict):
    """A kept video past its time (`VideoCopyStore.kept_before`)."""

    id: str
    video_key: str | None


class InboundMessage(TypedDict, total=False):
    """A message received on the Standard Webhooks route (`id` and `source` in listings)."""

    id: int
    source: str
    webhook_id: str
    received_at: str
    payload: str | None


class DestinationRow(TypedDict):
    """A registered destination (`DestinationStore`); `target` is sealed."""

    id: int
    name: str
    channel: str
    target: str
    label: str
    route_key: str | None
    on_states: str | None  # JSON list of states, or null: the REELHOOK_NOTIFY_ON ones
    provider: str | None
    metadata_filter: str | None  # JSON object
    paused: int
    managed_by: str | None
    disabled_reason: str | None
    disabled_at: str | None
    created_at: str | None
    updated_at: str | None


class NamedDestination(TypedDict):
    """A registered destination as an alert names it."""

    id: int
    name: str


class AlertRow(TypedDict):
    """A row of `alerts`: an operator's alert about an address, and its sending."""

    id: int
    kind: str
    route_key: str
    label: str
    reason: str | None
    task_id: str | None
    created_at: float
    status: str
    attempts: int
    next_attempt_at: float | None
    claim_owner: str | None
    claimed_at: float | None
    last_error: str | None
    sent_at: float | None
    destinations: list[NamedDestination]  # the registered ones of its address, when claimed


class DailyCost(TypedDict):
    """Tasks and their summed cost for one provider on one UTC day."""

    provider: str
    day: str  # YYYY-MM-DD
    tasks: int
    cost_usd: float


class CostTotal(TypedDict):
    """Tasks a provider accepted, those with a known price, and the sum of their cost."""

    provider: str
    tasks: int
    priced_tasks: int
    cost_usd: float
