"""The submission queue's table side: in-flight slots per provider and held submissions.

A submission held back by a provider's in-flight cap or a busy answer waits in
`submit_state = 'pending'` with its request sealed in `held_request`; a claim marks it `sending`
(by an owner, under a lease), the provider's answer `sent`. A provider's cap is counted under a
lock per provider, so it holds across every process sharing the database.
"""

from __future__ import annotations

import time

from store.interface import SLOTS
from store.models import NewTask
from store.plans.tasks import fetch_task, insert_task
from store.rows import CutOffSend, HeldSend, TaskRow
from store.sql import Announce, Lock, Plan, count, rows, value
from store.states import UNFINISHED_SQL

IN_FLIGHT = f"submit_state IN ('sending', 'sent') AND status IN {UNFINISHED_SQL}"
# The status term repeats the in-flight index's own condition word for word: SQLite uses a
# partial index only for a query that says so (else it walked every task of the provider).
WAITING = (
    "submit_state = 'pending' AND held_request IS NOT NULL AND status = 'queued'"
    f" AND status IN {UNFINISHED_SQL} AND (submit_after IS NULL OR submit_after <= :now)"
)
# A send cut off: claimed by a process whose lease ran out, or recorded before :recorded and
# never claimed or held at all.
CUT_OFF = (
    "status = 'queued' AND provider_task_id IS NULL"
    " AND ((submit_state = 'sending' AND COALESCE(claim_expires_at, 0) < :now)"
    " OR (submit_state = 'pending' AND held_request IS NULL AND last_event_at < :recorded))"
)


def claim_slot(
    task_id: str,
    provider: str,
    cap: int,
    keep_sealed: bool = False,
    *,
    owner: str = "",
    lease: float = 60.0,
) -> Plan[bool]:
    """Mark the task `sending` by `owner` for `lease` seconds if the provider has a free slot
    (cap 0: no cap) and no earlier task is waiting. With `keep_sealed` the sealed request stays
    until the provider's answer is recorded, so a send cut off by a stop can be made again
    (providers that honour an Idempotency-Key)."""
    if cap > 0:
        yield Lock(f"reelhook:slots:{provider}")
        busy = yield value(
            f"SELECT count(*) FROM tasks WHERE provider = :provider AND {IN_FLIGHT}"
            " AND id != :id", provider=provider, id=task_id,
        )
        waiting = yield value(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE provider = :provider AND id < :id"
            f" AND {WAITING})", provider=provider, id=task_id, now=time.time(),
        )
        if busy >= cap or waiting:
            return False
    # Only a task still waiting to be sent: one cancelled (or claimed) meanwhile is left alone.
    claimed = yield count(
        "UPDATE tasks SET submit_state = 'sending', submit_after = NULL,"
        " held_request = CASE WHEN :keep_sealed THEN held_request END,"
        " claim_owner = :owner, claim_expires_at = :until"
        " WHERE id = :id AND status = 'queued' AND submit_state = 'pending'",
        keep_sealed=keep_sealed, owner=owner, until=time.time() + lease, id=task_id,
    )
    return bool(claimed == 1)


def hold(task_id: str, sealed: str, submit_after: float) -> Plan[None]:
    """Keep the sealed request until a slot frees and `submit_after` has passed."""
    yield count(
        "UPDATE tasks SET submit_state = 'pending', held_request = :sealed,"
        " submit_after = :submit_after, claim_owner = NULL, claim_expires_at = NULL"
        " WHERE id = :id",
        sealed=sealed, submit_after=submit_after, id=task_id,
    )
    yield Announce(SLOTS)


def insert_and_claim(
    new: NewTask,
    cap: int,
    sealed: str,
    keep_sealed: bool,
    owner: str = "",
    lease: float = 60.0,
) -> Plan[tuple[TaskRow, bool, bool]]:
    """Record a new task and, in the same transaction, take a slot for it (for `owner` under
    `lease`) or hold it `sealed`: (task, created, claimed). A submit is thus recorded whole,
    ready to send, or not at all."""
    task, created = yield from insert_task(new)
    if not created:
        return task, False, False
    if keep_sealed:
        yield count("UPDATE tasks SET held_request = :sealed WHERE id = :id",
                    sealed=sealed, id=new.id)
    if (yield from claim_slot(new.id, new.provider, cap, keep_sealed, owner=owner, lease=lease)):
        claimed = yield from fetch_task(new.id)
        return claimed, True, True
    yield from hold(new.id, sealed, time.time())
    return task, True, False


def resend(task_id: str) -> Plan[bool]:
    """Hold an interrupted send, whose request is still sealed, to be made again now."""
    held = yield count(
        "UPDATE tasks SET submit_state = 'pending', submit_after = :now, claim_owner = NULL,"
        " claim_expires_at = NULL WHERE id = :id AND status = 'queued'"
        " AND submit_state = 'sending' AND held_request IS NOT NULL",
        now=time.time(), id=task_id,
    )
    if held != 1:
        return False
    yield Announce(SLOTS)
    return True


def held(now: float, limit: int) -> Plan[list[HeldSend]]:
    """Held submissions ready to try again, oldest first."""
    found = yield rows(
        f"SELECT id, provider, held_request FROM tasks WHERE {WAITING} ORDER BY id LIMIT :limit",
        now=now, limit=limit,
    )
    return found  # type: ignore[no-any-return]


def interrupted_sends(now: float, grace: float) -> Plan[list[CutOffSend]]:
    """Unfinished tasks whose send was cut off: claimed for sending by a process whose lease ran
    out, or recorded more than `grace` seconds ago and never claimed or held at all. A claim a
    live process still holds is never among them."""
    found = yield rows(
        f"SELECT id, provider, held_request IS NOT NULL AS sealed FROM tasks WHERE {CUT_OFF}",
        now=now, recorded=now - grace,
    )
    return found  # type: ignore[no-any-return]
