"""Cancel-unsent: a client's cancel of a submission nobody has started sending.

The withdrawal runs in the same transaction as the cancel's event (see `queries.insert_event`), so
a send that claims the task at the same moment either wins (the cancel is not recorded) or finds
the task withdrawn; never both.
"""

from __future__ import annotations

import sqlite3


def withdraw_unsent(conn: sqlite3.Connection, task_id: str) -> bool:
    """Mark a held, unsent task withdrawn; False when a send has begun (or it is not waiting)."""
    withdrawn = conn.execute(
        "UPDATE tasks SET submit_state = 'withdrawn', held_request = NULL, submit_after = NULL"
        " WHERE id = ? AND status = 'queued' AND submit_state = 'pending'",
        (task_id,),
    )
    return withdrawn.rowcount == 1
