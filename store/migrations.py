"""The one schema history both databases share: each migration's name, in order, and what it
does. store/sqlite/schema.py and store/postgres/schema.py each write the steps of every entry in
their own dialect, under the same name; neither may add, drop or reorder one (checked at import).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    "m014_counts":
        "counts kept as rows change (tasks, videos, costs, deliveries, attempts), so /metrics"
        " and the cost pages read a few rows instead of the whole history",
    "m015_postgres_types":
        "PostgreSQL's own types: times as timestamptz, JSON as json (SQLite keeps ISO 8601 text"
        " and JSON text, its own)",
    "m016_postgres_jsonb":
        "JSON as jsonb on PostgreSQL (a NUL escape or half a surrogate pair, which jsonb cannot"
        " hold, as U+FFFD); nothing on SQLite",
}
MIGRATION_NAMES = tuple(HISTORY)


# m014: every change of a counted column adds a row of deltas (in the same transaction, by
# trigger, so no statement can forget it); the totals are folded from them now and then
# (store/plans/stats.py). Inserting rows instead of updating one total per key: concurrent
# PostgreSQL transactions would queue on (and deadlock over) the same total rows.
def count_tables(identity: str) -> tuple[str, ...]:
    """The tables of m014 (the identity column as each dialect writes it)."""
    columns = "kind TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL"
    return (
        f"CREATE TABLE count_totals ({columns}, n BIGINT NOT NULL, priced BIGINT NOT NULL,"
        " micros BIGINT NOT NULL, PRIMARY KEY (kind, a, b))",
        f"CREATE TABLE count_deltas (id {identity}, {columns}, n BIGINT NOT NULL,"
        " priced BIGINT NOT NULL, micros BIGINT NOT NULL)",
    )


_DELTA = "INSERT INTO count_deltas (kind, a, b, n, priced, micros) "


def _micros(row: str) -> str:
    return f"coalesce(CAST(round({row}.cost_usd * 1000000) AS BIGINT), 0)"


def _priced(row: str) -> str:
    return f"(CASE WHEN {row}.cost_usd IS NULL THEN 0 ELSE 1 END)"


def text_day(row: str) -> str:
    """The UTC day of a task created at ISO 8601 text (YYYY-MM-DD)."""
    return f"substr({row}.created_at, 1, 10)"


def timestamptz_day(row: str) -> str:
    """The UTC day of a task created at a PostgreSQL timestamptz (YYYY-MM-DD)."""
    return f"to_char({row}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def _task_deltas(row: str, sign: str, day: Callable[[str], str]) -> dict[str, str]:
    """A task row's part of the counts, per kind: by provider and status; its kept video by
    status; costs of tasks the provider accepted, by provider and status; every task's cost
    by day."""
    return {
        "tasks": _DELTA + f"SELECT 'tasks', {row}.provider, {row}.status, {sign}1, 0, 0",
        "videos": _DELTA + f"SELECT 'videos', {row}.video_status, '', {sign}1, 0, 0"
        f" WHERE {row}.video_status IS NOT NULL",
        "costs": _DELTA + f"SELECT 'costs', {row}.provider, {row}.status, {sign}1,"
        f" {sign}{_priced(row)}, {sign}{_micros(row)} WHERE {row}.provider_task_id IS NOT NULL",
        "days": _DELTA + f"SELECT 'days', {row}.provider, {day(row)},"
        f" {sign}1, {sign}{_priced(row)}, {sign}{_micros(row)}",
    }


# The columns each kind of task count reads: an update that changes none of them adds nothing
# (a progress update, most of a callback's writes, adds no row).
_TASK_KIND_COLUMNS = {
    "tasks": ("provider", "status"),
    "videos": ("video_status",),
    "costs": ("provider", "status", "provider_task_id", "cost_usd"),
    "days": ("provider", "created_at", "cost_usd"),
}


def _delivery_deltas(row: str, sign: str) -> str:
    return _DELTA + f"SELECT 'deliveries', {row}.status, '', {sign}1, 0, 0"


# Attempts are counted as made, never taken back: pruning old attempts leaves the counter
# (reelhook_deliveries is a Prometheus counter) where it was.
_ATTEMPT_DELTAS = (
    _DELTA + "SELECT 'attempts', s.channel, NEW.outcome, 1, 0, 0 FROM deliveries d"
    " JOIN destinations s ON s.id = d.destination_id WHERE d.id = NEW.delivery_id"
)


@dataclass(frozen=True)
class CountTrigger:
    """One trigger of m014: after `event` on `table`, when `changed` (columns whose change
    matters, for an update), run `body`."""

    name: str
    table: str
    event: str
    body: tuple[str, ...]
    changed: tuple[str, ...] = ()


def count_triggers(day: Callable[[str], str] = text_day) -> tuple[CountTrigger, ...]:
    """m014's triggers, a task's day read by `day`."""
    inserted, deleted = _task_deltas("NEW", "", day), _task_deltas("OLD", "-", day)
    return (
        CountTrigger("count_tasks_insert", "tasks", "INSERT", tuple(inserted.values())),
        CountTrigger("count_tasks_delete", "tasks", "DELETE", tuple(deleted.values())),
        *(CountTrigger(f"count_tasks_update_{kind}", "tasks", "UPDATE",
                       (deleted[kind], inserted[kind]), columns)
          for kind, columns in _TASK_KIND_COLUMNS.items()),
        CountTrigger("count_deliveries_insert", "deliveries", "INSERT",
                     (_delivery_deltas("NEW", ""),)),
        CountTrigger("count_deliveries_delete", "deliveries", "DELETE",
                     (_delivery_deltas("OLD", "-"),)),
        CountTrigger("count_deliveries_update", "deliveries", "UPDATE",
                     (_delivery_deltas("OLD", "-"), _delivery_deltas("NEW", "")), ("status",)),
        CountTrigger("count_attempts_insert", "attempts", "INSERT", (_ATTEMPT_DELTAS,)),
    )


COUNT_TRIGGERS = count_triggers()


def count_backfill(day: Callable[[str], str] = text_day) -> tuple[str, ...]:
    """The totals as they stand (the one full read of the history), a task's day read by
    `day`."""
    return tuple("INSERT INTO count_totals (kind, a, b, n, priced, micros) " + select
                 for select in _count_selects(day("tasks")))


def _count_selects(day: str) -> tuple[str, ...]:
    return (
        "SELECT 'tasks', provider, status, count(*), 0, 0 FROM tasks GROUP BY provider, status",
        "SELECT 'videos', video_status, '', count(*), 0, 0 FROM tasks"
        " WHERE video_status IS NOT NULL GROUP BY video_status",
        f"SELECT 'costs', provider, status, count(*), sum({_priced('tasks')}),"
        f" sum({_micros('tasks')}) FROM tasks WHERE provider_task_id IS NOT NULL"
        " GROUP BY provider, status",
        f"SELECT 'days', provider, {day}, count(*), sum({_priced('tasks')}),"
        f" sum({_micros('tasks')}) FROM tasks GROUP BY provider, {day}",
        "SELECT 'deliveries', status, '', count(*), 0, 0 FROM deliveries GROUP BY status",
        "SELECT 'attempts', s.channel, a.outcome, count(*), 0, 0 FROM attempts a"
        " JOIN deliveries d ON d.id = a.delivery_id JOIN destinations s"
        " ON s.id = d.destination_id GROUP BY s.channel, a.outcome",
    )


# m014's copy of the history (tasks' days still ISO 8601 text on both databases then).
COUNT_BACKFILL = count_backfill()


def check_dialect(dialect: str, names: tuple[str, ...]) -> None:
    """Refuse (at import) a dialect whose migrations are not exactly the shared history."""
    if names != MIGRATION_NAMES:
        raise RuntimeError(
            f"the {dialect} migrations {names} differ from store/migrations.py {MIGRATION_NAMES}"
        )
