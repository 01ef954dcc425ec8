"""Values that go into the store."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from store.rows import TaskRow
from store.states import NO_OBSERVATION, Observation


def utc_now_iso() -> str:
    """The current time as ISO 8601 UTC with milliseconds, e.g. 2026-11-21T12:00:00.000Z."""
    return iso_from_epoch(time.time())


def iso_from_epoch(seconds: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds."""
    return iso_of(datetime.fromtimestamp(seconds, tz=UTC))


def iso_of(moment: datetime) -> str:
    """A UTC datetime as ISO 8601 with milliseconds (the store's one time text)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# The shape of every id new_task_id makes.
TASK_ID = re.compile(r"tsk_[0-9a-f]{28}")


def new_task_id() -> str:
    """A task id that sorts by creation time: tsk_ + 12 hex digits of ms + 16 random hex."""
    return f"tsk_{int(time.time() * 1000):012x}{os.urandom(8).hex()}"


def is_task_id(text: str) -> bool:
    """Whether `text` has the shape of the ids `new_task_id` makes."""
    return len(text) == 32 and text.startswith("tsk_") and all(c in _HEX for c in text[4:])


_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class NewDestination:
    """Where one task's notices go. `target` is already encrypted; `label` is safe to show."""

    channel: str
    target: str
    label: str
    route_key: str


@dataclass(frozen=True)
class NewTask:
    """A task as the client asked for it, ready to be recorded."""

    id: str
    provider: str
    model: str
    request: dict[str, Any]
    callback_secret_hash: str | None = None
    metadata: dict[str, Any] | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    cost_usd: float | None = None
    destinations: tuple[NewDestination, ...] = ()
    deadline_at: float | None = None
    # Queue its destinations' `queued` notices with it (REELHOOK_NOTIFY_ON has queued): a task
    # is created queued, so no later change into that state would ever queue them.
    notify_queued: bool = False


# EventIn and EventOutcome are made for every callback: NamedTuples, immutable like a frozen
# dataclass at a fifth of its construction cost.
class EventIn(NamedTuple):
    """One thing a provider (or reelhook itself) said about a task."""

    dedupe_key: str
    source: str
    seen: Observation = NO_OBSERVATION
    provider_status: str | None = None
    payload: str = ""
    provider_task_id: str | None = None
    # A poll repeats what is already known most of the time; such an event is kept only when it
    # moves the task, decided inside the same transaction so a racing callback cannot double it.
    only_if_changes: bool = False
    # A client's cancel of a task no send has started for: the submission is withdrawn and the
    # event recorded in one step, or neither when a send has begun meanwhile.
    only_if_unsent: bool = False


class EventOutcome(NamedTuple):
    """What recording an event did: `recorded` is False for a duplicate (or an event that did not
    apply); `notices_queued` counts the deliveries it queued; `slot_freed` says the task has just
    finished, so its provider has room for the next one."""

    recorded: bool
    changed: bool
    task: TaskRow
    notices_queued: int = 0
    slot_freed: bool = False


class KeptCopy(NamedTuple):
    """What was kept of one video: where in the video store, its size, SHA-256 and type."""

    key: str
    bytes: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class TaskSearch:
    """What a task listing looks for besides status and provider: metadata values (key, value
    as text), words of the prompt, and a creation window (ISO 8601 UTC, as tasks record it)."""

    metadata: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    created_after: str | None = None
    created_before: str | None = None

    @property
    def empty(self) -> bool:
        """True when it asks for nothing."""
        return not (self.metadata or self.text or self.created_after or self.created_before)


@dataclass(frozen=True)
class DatabaseTimeouts:
    """Bounds on every PostgreSQL connection of a serving process (seconds): a database that
    hangs or a row another session keeps locked costs a caller these, not forever."""

    statement: float = 5.0  # one statement, a wait for a pooled connection, a connect
    lock: float = 2.0  # a wait for a row lock another session holds
    idle_in_transaction: float = 30.0  # the server ends a session gone quiet mid-transaction

    def server_settings(self) -> dict[str, str]:
        """The session settings that make the server enforce them."""
        return {
            "statement_timeout": str(round(self.statement * 1000)),
            "lock_timeout": str(round(self.lock * 1000)),
            "idle_in_transaction_session_timeout": str(round(self.idle_in_transaction * 1000)),
        }


DEFAULT_TIMEOUTS = DatabaseTimeouts()


def metadata_text(value: Any) -> str:
    """A metadata value as the search and destination filters compare it: a string as it is, a
    number, boolean or null as its JSON (so `true` and "true" are one value, as in a query)."""
    return value if isinstance(value, str) else json.dumps(value)


def metadata_values(metadata: Any) -> list[tuple[str, str]]:
    """The top-level values of a task's metadata the search finds, as text: a string as it is,
    a number, boolean or null as its JSON (objects and lists are not searched)."""
    if not isinstance(metadata, dict):
        return []
    pairs = [(str(key), metadata_text(found))
             for key, found in metadata.items() if not isinstance(found, (dict, list))]
    # A NUL cannot be PostgreSQL text: such a value is kept in the task, not searched.
    return [(key, text) for key, text in pairs if "\x00" not in key and "\x00" not in text]


@dataclass(frozen=True)
class HealthPolicy:
    """`disable_after`: seconds of nothing but failed attempts after which a destination is
    disabled (None: never); `alerts`: whether alerts are queued (an alerts destination is set)."""

    disable_after: float | None = None
    alerts: bool = False


NO_POLICY = HealthPolicy()


@dataclass(frozen=True)
class Registration:
    """A registered destination as it is written. `target` is sealed; `label` is safe to show;
    `on` the task states it is notified of; `provider` and `metadata` filter the tasks."""

    name: str
    channel: str
    target: str
    label: str
    route_key: str
    on: tuple[str, ...]
    provider: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    paused: bool = False
    managed_by: str | None = None

    def columns(self) -> dict[str, Any]:
        """The column values of this registration."""
        return {
            "name": self.name, "channel": self.channel, "target": self.target,
            "label": self.label, "route_key": self.route_key, "on_states": ",".join(self.on),
            "provider": self.provider,
            "metadata_filter": json.dumps(dict(self.metadata)) if self.metadata else None,
            "paused": int(self.paused), "managed_by": self.managed_by,
        }


@dataclass(frozen=True, slots=True)
class Kept:
    """A table whose rows go after the cutoff, by the time column named."""

    table: str
    moment: str


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """A column of sealed values, found by its table's key; `context` is read beside each value
    and `derived` is a column made from the value under the key (both optional)."""

    table: str
    key: str
    column: str
    context: str | None = None
    derived: str | None = None


@dataclass(frozen=True, slots=True)
class Resealed:
    """One value sealed again: where, what it was, what it is now, and its derived column."""

    key: Any
    old: str
    new: str
    derived: str | None = None


@dataclass(frozen=True)
class DueWork:
    """Which kinds of work wait now."""

    interrupted_sends: bool = False
    held_submissions: bool = False
    polls: bool = False
    video_copies: bool = False
    old_video_copies: bool = False
    notices: bool = False
    alerts: bool = False

    def any(self) -> bool:
        """True when some work waits."""
        return any(astuple(self))
