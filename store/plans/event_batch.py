"""Events recorded a batch at a time, decided once for both databases.

The outcome of each event is what `store.plans.tasks.insert_event` would give one after another
in the same transaction. `decide` works that out from the batch's task rows as read; each
database then writes the decision its own way (store/sqlite/event_batch.py: executemany;
store/postgres/event_batch.py: a locked read, arrays through unnest, one NOTIFY). Where the
outcome cannot be decided without the database's answer (an event stored already, a task that
is not there, a withdrawal), the batch is refused with `AlreadyStored` or TaskNotFound and the
writer runs it again event by event, each through `insert_event` in its own savepoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.models import EventIn, EventOutcome, iso_from_epoch
from store.plans.tasks import (
    event_row,
    notice_delay,
    only_times_change,
    queue_deliveries,
    saved_state,
    state_of,
)
from store.rows import as_task
from store.sql import Plan
from store.states import advance, is_terminal

Item = tuple[str, EventIn]  # task id, event


class AlreadyStored(Exception):
    """An event of the batch is stored already (or is a withdrawal): only the one-by-one path
    can say what becomes of it."""


@dataclass
class Decision:
    """What a batch writes: the events to insert, the task rows whose times alone change, the
    task rows whose state changes, the notices each status move queues (outcome index, task id,
    state, delay), and every event's outcome (its notices counted once they are queued)."""

    tasks: dict[str, dict[str, Any]]
    inserts: list[dict[str, Any]] = field(default_factory=list)
    times: list[dict[str, Any]] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)
    notices: list[tuple[int, str, str, float]] = field(default_factory=list)
    outcomes: list[EventOutcome] = field(default_factory=list)


def decide(
    found: dict[str, dict[str, Any]], items: list[Item], at: float,
    video_wait: float | None = None,
) -> Decision:
    """The batch's writes and outcomes, from its tasks' rows as read (`found`, by id) at Unix
    time `at`; AlreadyStored for a withdrawal or an event twice in the batch."""
    if any(event.only_if_unsent for _, event in items):
        raise AlreadyStored("a withdrawal decides in the database: one by one")
    if len({(task_id, event.dedupe_key) for task_id, event in items}) != len(items):
        raise AlreadyStored("an event is in the batch twice")
    now = iso_from_epoch(at)
    decision = Decision(tasks=dict(found))
    tasks = decision.tasks
    moved: set[str] = set()
    for task_id, event in items:
        task = tasks[task_id]
        before = state_of(task)
        after = advance(before, event.seen)
        if event.only_if_changes and after == before:
            outcome = EventOutcome(recorded=False, changed=False, task=as_task(task))
            decision.outcomes.append(outcome)
            continue
        decision.inserts.append(event_row(task_id, event, now))
        if is_terminal(before.status):
            decision.outcomes.append(EventOutcome(recorded=True, changed=False, task=as_task(task)))
            continue
        saved = saved_state(task, after, event, now, at, video_wait=video_wait)
        tasks[task_id] = task | saved
        moved.add(task_id)
        status_moved = after.status != before.status
        if status_moved:
            delay = notice_delay(task, saved, video_wait)
            decision.notices.append((len(decision.outcomes), task_id, after.status, delay))
        decision.outcomes.append(EventOutcome(
            recorded=True, changed=after != before, task=as_task(tasks[task_id]),
            slot_freed=status_moved and is_terminal(after.status),
        ))
    clocks = {task_id for task_id in moved if only_times_change(found[task_id], tasks[task_id])}
    decision.times = [tasks[task_id] for task_id in sorted(clocks)]
    decision.states = [tasks[task_id] for task_id in sorted(moved - clocks)]
    return decision


def queue_notices(decision: Decision, notify_on: frozenset[str]) -> Plan[list[EventOutcome]]:
    """Queue the notices of the decision's status moves; the outcomes with them counted."""
    outcomes = list(decision.outcomes)
    for index, task_id, state, delay in decision.notices:
        own = state in notify_on
        queued = yield from queue_deliveries(decision.tasks[task_id], state, delay, own=own)
        outcomes[index] = outcomes[index]._replace(notices_queued=queued)
    return outcomes
