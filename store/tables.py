"""The statements of the shared history (store/migrations.py) that both databases run as they
are: written once, in SQL both dialects read, but for the identity column each writes its own
way. Floating-point columns are DOUBLE PRECISION (REAL affinity on SQLite)."""

from __future__ import annotations

from store.states import UNFINISHED_SQL

REAL = "DOUBLE PRECISION"


def shared_steps(identity: str) -> dict[str, tuple[str, ...]]:
    """m001 to m012 and m013's table, with `identity` as the dialect's integer primary key."""
    return {
        "m001_tasks_events_deliveries": (
            "CREATE TABLE tasks (id TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,"
            " provider_task_id TEXT, status TEXT NOT NULL DEFAULT 'queued', progress INTEGER"
            f" DEFAULT 0, video_url TEXT, error TEXT, cost_usd {REAL}, created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL, metadata TEXT, request TEXT, idempotency_key TEXT,"
            " request_fingerprint TEXT, callback_secret_hash TEXT)",
            "CREATE UNIQUE INDEX idx_tasks_idempotency_key ON tasks (idempotency_key)",
            "CREATE INDEX idx_tasks_provider_provider_task_id"
            " ON tasks (provider, provider_task_id)",
            "CREATE INDEX idx_tasks_status_id ON tasks (status, id)",
            "CREATE INDEX idx_tasks_provider_id ON tasks (provider, id)",
            f"CREATE TABLE events (id {identity}, task_id TEXT NOT NULL REFERENCES tasks (id),"
            " dedupe_key TEXT NOT NULL, source TEXT NOT NULL, provider_status TEXT, status TEXT,"
            " progress INTEGER, payload TEXT, received_at TEXT NOT NULL)",
            "CREATE UNIQUE INDEX idx_events_task_id_dedupe_key ON events (task_id, dedupe_key)",
            f"CREATE TABLE deliveries (id {identity}, task_id TEXT NOT NULL REFERENCES tasks (id),"
            " state TEXT NOT NULL, destination_id BIGINT, status TEXT NOT NULL DEFAULT 'pending',"
            f" attempts INTEGER DEFAULT 0, next_attempt_at {REAL}, last_error TEXT,"
            " created_at TEXT, updated_at TEXT)",
            "CREATE UNIQUE INDEX idx_deliveries_destination_id_state"
            " ON deliveries (destination_id, state)",
            "CREATE INDEX idx_deliveries_status_next_attempt_at"
            " ON deliveries (status, next_attempt_at)",
        ),
        "m002_destinations_attempts_polling": (
            f"CREATE TABLE destinations (id {identity}, task_id TEXT, channel TEXT NOT NULL,"
            " target TEXT NOT NULL, label TEXT NOT NULL, route_key TEXT, disabled_reason TEXT)",
            "CREATE INDEX idx_destinations_task_id ON destinations (task_id)",
            f"CREATE TABLE attempts (id {identity},"
            " delivery_id BIGINT NOT NULL REFERENCES deliveries (id),"
            f" started_at TEXT NOT NULL, duration_ms {REAL}, status_code INTEGER, error TEXT,"
            " outcome TEXT NOT NULL)",
            "CREATE INDEX idx_attempts_delivery_id ON attempts (delivery_id)",
            "ALTER TABLE tasks ADD COLUMN submit_state TEXT NOT NULL DEFAULT 'pending'",
            f"ALTER TABLE tasks ADD COLUMN next_poll_at {REAL}",
            "ALTER TABLE tasks ADD COLUMN poll_attempts INTEGER NOT NULL DEFAULT 0",
            f"ALTER TABLE tasks ADD COLUMN last_event_at {REAL}",
            f"ALTER TABLE tasks ADD COLUMN deadline_at {REAL}",
            "CREATE INDEX idx_tasks_next_poll_at ON tasks (next_poll_at)",
        ),
        "m003_dispatcher_claims": (
            f"ALTER TABLE deliveries ADD COLUMN claimed_at {REAL}",
            "ALTER TABLE deliveries ADD COLUMN claim_owner TEXT",
            "ALTER TABLE deliveries ADD COLUMN cycle_start INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE deliveries ADD COLUMN delivered_at TEXT",
            "CREATE INDEX idx_deliveries_task_id ON deliveries (task_id)",
            "CREATE INDEX idx_destinations_route_key ON destinations (route_key)",
        ),
        "m004_providers_held_submissions": (
            "ALTER TABLE tasks ADD COLUMN held_request TEXT",
            f"ALTER TABLE tasks ADD COLUMN submit_after {REAL}",
            "CREATE INDEX idx_tasks_provider_submit_state ON tasks (provider, submit_state)",
        ),
        "m005_inbound_messages": (
            f"CREATE TABLE inbound_messages (id {identity}, source TEXT NOT NULL,"
            " webhook_id TEXT NOT NULL,"
            " received_at TEXT NOT NULL, payload TEXT)",
            "CREATE UNIQUE INDEX idx_inbound_messages_source_webhook_id"
            " ON inbound_messages (source, webhook_id)",
        ),
        "m006_route_disabled_index": (
            "CREATE INDEX idx_destinations_route_key_disabled_reason"
            " ON destinations (route_key, disabled_reason)",
        ),
        "m007_task_claims": (
            "ALTER TABLE tasks ADD COLUMN claim_owner TEXT",
            f"ALTER TABLE tasks ADD COLUMN claim_expires_at {REAL}",
        ),
        "m008_kept_videos": (
            "ALTER TABLE tasks ADD COLUMN video_status TEXT",
            "ALTER TABLE tasks ADD COLUMN video_bytes BIGINT",
            "ALTER TABLE tasks ADD COLUMN video_sha256 TEXT",
            "ALTER TABLE tasks ADD COLUMN video_content_type TEXT",
            "ALTER TABLE tasks ADD COLUMN video_kept_at TEXT",
            f"ALTER TABLE tasks ADD COLUMN video_expires_at {REAL}",
            "ALTER TABLE tasks ADD COLUMN video_error TEXT",
            "ALTER TABLE tasks ADD COLUMN video_key TEXT",
            f"ALTER TABLE tasks ADD COLUMN video_next_at {REAL}",
            "ALTER TABLE tasks ADD COLUMN video_claim_owner TEXT",
            f"ALTER TABLE tasks ADD COLUMN video_claim_expires {REAL}",
            "ALTER TABLE tasks ADD COLUMN video_attempts INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX idx_tasks_video_status_video_next_at"
            " ON tasks (video_status, video_next_at)",
        ),
        "m009_key_check": (
            "CREATE TABLE key_check (id INTEGER PRIMARY KEY CHECK (id = 1), sealed TEXT NOT NULL)",
        ),
        "m010_ended_sessions": (
            f"CREATE TABLE ended_sessions (sid TEXT PRIMARY KEY, expires_at {REAL} NOT NULL)",
        ),
        "m011_registered_destinations": registered_destinations(identity),
        "m012_in_flight_index": (IN_FLIGHT_INDEX,),
    }


def registered_destinations(identity: str) -> tuple[str, ...]:
    """m011's steps."""
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
        f"CREATE TABLE route_health (route_key TEXT PRIMARY KEY, failing_since {REAL},"
        f" last_failed_at {REAL}, troubled INTEGER NOT NULL DEFAULT 0)",
        f"CREATE TABLE alerts (id {identity}, kind TEXT NOT NULL, route_key TEXT NOT NULL,"
        f" label TEXT NOT NULL, reason TEXT, task_id TEXT, created_at {REAL} NOT NULL,"
        " status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
        f" next_attempt_at {REAL}, claim_owner TEXT, claimed_at {REAL},"
        f" last_error TEXT, sent_at {REAL})",
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
