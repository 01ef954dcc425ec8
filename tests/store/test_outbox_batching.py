"""The outbox reads, claims and records in few statements, with the same results as one by one:
due deliveries in due order, claims only of what is still due, attempts recorded per claim."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

from store.models import NO_POLICY, NewDestination, NewTask
from store.plans.outbox import AttemptRecord, claim, finish_many, select_due
from store.plans.tasks import insert_task
from store.sql import Plan
from store.sqlite.driver import result_of
from store.sqlite.schema import connect, migrate

NOW, STALE = 1000.0, 900.0


def run(conn: sqlite3.Connection, plan: Plan[Any]) -> Any:
    return result_of(conn, plan)


def outbox(path: Path, count: int, seed: int) -> sqlite3.Connection:
    migrate(str(path))
    conn = connect(str(path))
    hook = NewDestination("webhook", "sealed", "http://127.0.0.1/…", "route")
    pick = random.Random(seed)
    conn.execute("BEGIN")
    for i in range(count):
        run(conn, insert_task(NewTask(f"tsk_{i:04d}", "piapi", "Qubico/skyreels", {},
                                      destinations=(hook,))))
        status = pick.choice(["pending", "pending", "sending", "delivered", "dead"])
        conn.execute(
            "INSERT INTO deliveries (task_id, state, destination_id, status, attempts,"
            " next_attempt_at, claimed_at, claim_owner, created_at, updated_at)"
            " VALUES (?, 'succeeded', ?, ?, 0, ?, ?, 'other', 't', 't')",
            (f"tsk_{i:04d}", i + 1, status, pick.choice([NOW - 50, NOW - 5, NOW + 5, NOW]),
             pick.choice([STALE - 1, STALE + 1]) if status == "sending" else None),
        )
    conn.execute("COMMIT")
    return conn


def test_due_deliveries_come_in_due_order_and_only_while_due(tmp_path: Path) -> None:
    conn = outbox(tmp_path / "due.db", 300, seed=13)
    expected = [
        row[0] for row in conn.execute(
            "SELECT id FROM deliveries WHERE (status = 'pending' AND next_attempt_at <= ?)"
            " OR (status = 'sending' AND claimed_at < ?) ORDER BY next_attempt_at, id",
            (NOW, STALE),
        )
    ]
    assert len(expected) > 40
    for limit in (1, 7, 40, 1000):
        due = run(conn, select_due(NOW, STALE, limit))
        assert [row["delivery_id"] for row in due] == expected[:limit]
    conn.execute("BEGIN")
    ids = [row[0] for row in conn.execute("SELECT id FROM deliveries ORDER BY id DESC")]
    assert run(conn, claim(ids, "me", NOW, STALE)) == [i for i in ids if i in set(expected)]
    assert run(conn, claim(ids, "you", NOW, STALE)) == []
    conn.execute("COMMIT")
    conn.close()


def test_attempts_of_many_sends_are_recorded_for_their_own_claims(tmp_path: Path) -> None:
    conn = outbox(tmp_path / "finish.db", 6, seed=1)
    conn.execute("UPDATE deliveries SET status = 'sending', claim_owner = 'me'")
    conn.execute("UPDATE deliveries SET claim_owner = 'gone' WHERE id = 6")
    record = [AttemptRecord(i, NOW, 12.5, "delivered", 204) for i in (1, 2, 6)]
    retry = [AttemptRecord(3, NOW, 3.0, "retrying", 500, "HTTP 500", NOW + 30)]
    conn.execute("BEGIN")
    run(conn, finish_many([(record, "me", NO_POLICY), (retry, "me", NO_POLICY),
                           ([], "me", NO_POLICY)]))
    conn.execute("COMMIT")
    rows = dict(conn.execute("SELECT id, status || '/' || attempts FROM deliveries"))
    # 6's claim is another worker's: the attempt counts, and the delivery stays that worker's.
    assert rows == {1: "delivered/1", 2: "delivered/1", 3: "pending/1", 4: "sending/0",
                    5: "sending/0", 6: "sending/1"}
    assert conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 4
    conn.close()


def test_a_claim_of_many_looks_up_each_delivery_by_its_id(tmp_path: Path) -> None:
    """Claiming must not cost more as the backlog grows: SQLite once chose the status index
    for claims of about 20 ids or more and walked every due delivery."""
    conn = outbox(tmp_path / "plan.db", 300, seed=5)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    conn.execute("BEGIN")
    ids = [row[0] for row in conn.execute("SELECT id FROM deliveries ORDER BY id LIMIT 100")]
    run(conn, claim(ids, "me", NOW, STALE))
    conn.execute("ROLLBACK")
    conn.set_trace_callback(None)
    update = next(sql for sql in statements if sql.startswith("UPDATE deliveries"))
    plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {update}"))
    # The ids come from a JSON list (json_each, itself a virtual table with an "INDEX" of its own).
    assert "SEARCH deliveries USING INTEGER PRIMARY KEY" in plan, plan
    assert "deliveries USING INDEX" not in plan and "COVERING INDEX" not in plan, plan
    conn.close()
