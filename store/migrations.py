"""The one schema history both databases share: each migration's name, in order, and what it
does. store/sqlite/schema.py and store/postgres/schema.py each write the steps of every entry in
their own dialect, under the same name; neither may add, drop or reorder one (checked at import).
"""

from __future__ import annotations

from store.states import UNFINISHED_SQL

HISTORY: dict[str, str] = {
    "m001_tasks_events_deliveries":
        "tasks, their deduplicated events, and the deliveries of notices they cause",
    "m002_destinations_attempts_polling":
        "notice destinations, delivery attempts, and the polling schedule of each task",
    "m003_dispatcher_claims":
        "claims on deliveries (a crashed worker's sends are taken over) and retry cycles",
    "m004_providers_held_submissions":
        "submissions held back by a provider's in-flight cap or a busy answer, sealed until sent",
    "m005_inbound_messages":
        "messages received on the Standard Webhooks route, deduplicated on webhook-id",
    "m006_route_disabled_index": "whether a route is disabled, found without a scan",
    "m007_task_claims": "who holds a task's submit or poll, and until when",
    "m008_kept_videos":
        "the kept copy of each succeeded task's video, and the durable job that makes it",
    "m009_key_check":
        "a value sealed with the secret key, so a start with another key is refused",
    "m010_ended_sessions": "dashboard sessions ended by signing out, until they would expire",
    "m011_registered_destinations":
        "named destinations registered once for every task with filters and pause; the health"
        " of each address and the operator's alerts",
    "m012_in_flight_index":
        "a provider's tasks in flight counted from the unfinished ones, not its whole history",
    "m013_task_metadata":
        "each task's metadata values in a table of their own, indexed, for the search",
}
MIGRATION_NAMES = tuple(HISTORY)


def registered_destinations(identity: str) -> tuple[str, ...]:
    """m011's steps, the same on both databases but for the identity column's type ("DOUBLE
    PRECISION" has REAL affinity on SQLite)."""
    return (
        *(f"ALTER TABLE destinations ADD COLUMN {column}" for column in (
            "name TEXT", "on_states TEXT", "provider TEXT", "metadata_filter TEXT",
            "paused INTEGER NOT NULL DEFAULT 0", "managed_by TEXT", "created_at TEXT",
            "updated_at TEXT", "deleted_at TEXT", "disabled_at TEXT",
        )),
        "CREATE UNIQUE INDEX idx_destinations_registered_name ON destinations (name)"
        " WHERE task_id IS NULL AND deleted_at IS NULL",
        # A registered destination has a notice per task and state, not one per state.
        "DROP INDEX idx_deliveries_destination_id_state",
        "CREATE UNIQUE INDEX idx_deliveries_destination_id_task_id_state"
        " ON deliveries (destination_id, task_id, state)",
        # Per address: failing since when (every attempt since failed), alerted about.
        "CREATE TABLE route_health (route_key TEXT PRIMARY KEY, failing_since DOUBLE PRECISION,"
        " last_failed_at DOUBLE PRECISION, troubled INTEGER NOT NULL DEFAULT 0)",
        f"CREATE TABLE alerts (id {identity}, kind TEXT NOT NULL, route_key TEXT NOT NULL,"
        " label TEXT NOT NULL, reason TEXT, task_id TEXT, created_at DOUBLE PRECISION NOT NULL,"
        " status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_at DOUBLE PRECISION, claim_owner TEXT, claimed_at DOUBLE PRECISION,"
        " last_error TEXT, sent_at DOUBLE PRECISION)",
        "CREATE INDEX idx_alerts_status_next_attempt_at ON alerts (status, next_attempt_at)",
        "CREATE INDEX idx_alerts_route_key_created_at ON alerts (route_key, created_at)",
    )


# The unfinished tasks by provider and submit state: the in-flight count of a capped provider
# (store/plans/submits.py) walked every task the provider ever had (168 ms at 200k tasks).
IN_FLIGHT_INDEX = (
    "CREATE INDEX idx_tasks_in_flight ON tasks (provider, submit_state, id)"
    f" WHERE status IN {UNFINISHED_SQL}"
)


# Each top-level metadata value of a task as text (a string as it is; a number or boolean as its
# JSON), so `metadata.KEY=VALUE` reads an index on both databases. Tasks before it are copied by
# each dialect's step (JSON is read differently).
TASK_METADATA = (
    "CREATE TABLE task_metadata (task_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (task_id, key))",
    "CREATE INDEX idx_task_metadata_key_value ON task_metadata (key, value)",
)


def check_dialect(dialect: str, names: tuple[str, ...]) -> None:
    """Refuse (at import) a dialect whose migrations are not exactly the shared history."""
    if names != MIGRATION_NAMES:
        raise RuntimeError(
            f"the {dialect} migrations {names} differ from store/migrations.py {MIGRATION_NAMES}"
        )
