"""m015 on PostgreSQL: times become timestamptz and JSON json through a forward migration that
keeps every row as it was written (a payload's key order, a number's spelling, a \\u0000 escape),
and the store reads and writes the same ISO 8601 text as on SQLite, whatever the session's zone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from store import EventIn, NewTask, Observation, open_store
from store.postgres.schema import migrate
from store.postgres.types import decode_time, encode_time
from tests.databases import fresh_postgres

WHEN = "2026-03-01T23:59:59.999Z"
LATER = "2026-03-02T00:00:00.001Z"
# Written as text before m015: not canonical (keys unsorted, 1e+20 spelled so), a NUL escape.
PAYLOAD = '{"z":1,"a":{"n":1e+20,"s":"nul \\u0000 here"},"m":[-0.0,"\\ud800"]}'
METADATA = '{"b":"2","a":1}'
REQUEST = '{"prompt":"a cat","model":"m"}'
TYPES = {
    ("tasks", "created_at"): "timestamp with time zone",
    ("tasks", "updated_at"): "timestamp with time zone",
    ("tasks", "video_kept_at"): "timestamp with time zone",
    ("tasks", "metadata"): "json",
    ("tasks", "request"): "json",
    ("events", "received_at"): "timestamp with time zone",
    ("events", "payload"): "json",
    ("deliveries", "created_at"): "timestamp with time zone",
    ("deliveries", "delivered_at"): "timestamp with time zone",
    ("attempts", "started_at"): "timestamp with time zone",
    ("inbound_messages", "received_at"): "timestamp with time zone",
    ("inbound_messages", "payload"): "json",
    ("destinations", "deleted_at"): "timestamp with time zone",
    ("destinations", "metadata_filter"): "json",
}


@pytest.fixture
async def before_m015() -> AsyncIterator[str]:
    """A database at m014 holding a task, its events (one without a payload, one whose
    payload is no JSON), a notice, an attempt and an inbound message, all written as text."""
    async with fresh_postgres(migrate=False) as url:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn, stop_before="m015_postgres_types")
            await conn.execute(
                "INSERT INTO tasks (id, provider, model, status, progress, created_at, updated_at,"
                " metadata, request, cost_usd) VALUES ('tsk_old', 'wave', 'm', 'succeeded', 100,"
                " $1, $2, $3, $4, 0.5)", WHEN, LATER, METADATA, REQUEST)
            await conn.executemany(
                "INSERT INTO events (task_id, dedupe_key, source, status, payload, received_at)"
                " VALUES ('tsk_old', $1, 'callback', 'running', $2, $3)",
                [("a", PAYLOAD, WHEN), ("b", "", WHEN), ("c", "not json {", LATER)])
            await conn.execute(
                "INSERT INTO destinations (task_id, channel, target, label, created_at,"
                " metadata_filter) VALUES (NULL, 'webhook', 'sealed', 'hook', $1, '{\"k\":\"v\"}')",
                WHEN)
            await conn.execute(
                "INSERT INTO deliveries (task_id, state, destination_id, status, created_at,"
                " updated_at, delivered_at) SELECT 'tsk_old', 'succeeded', id, 'delivered', $1, $2,"
                " $2 FROM destinations", WHEN, LATER)
            await conn.execute(
                "INSERT INTO attempts (delivery_id, started_at, outcome) SELECT id, $1,"
                " 'delivered' FROM deliveries", LATER)
            await conn.execute(
                "INSERT INTO inbound_messages (source, webhook_id, received_at, payload)"
                " VALUES ('s', 'msg_1', $1, $2)", WHEN, PAYLOAD)
        finally:
            await conn.close()
        yield url


async def column_types(url: str) -> dict[tuple[str, str], str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT table_name, column_name, data_type"
                                " FROM information_schema.columns WHERE table_schema = 'public'")
    finally:
        await conn.close()
    return {(row["table_name"], row["column_name"]): row["data_type"] for row in rows}


async def counts(url: str) -> list[tuple[str, str, str, int, int]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT kind, a, b, sum(n) AS n, sum(micros) AS micros FROM"
                                " (SELECT * FROM count_totals UNION ALL SELECT kind, a, b, n,"
                                " priced, micros FROM count_deltas) c GROUP BY kind, a, b"
                                " HAVING sum(n) <> 0 ORDER BY kind, a, b")
    finally:
        await conn.close()
    return [(r["kind"], r["a"], r["b"], int(r["n"]), int(r["micros"])) for r in rows]


async def test_m015_gives_postgres_its_own_types_and_keeps_every_row(before_m015: str) -> None:
    url = before_m015
    counted = await counts(url)
    assert ("days", "wave", "2026-03-01", 1, 500000) in counted
    store = await open_store(url)  # migrates the rest
    try:
        types = await column_types(url)
        assert {key: types[key] for key in TYPES} == TYPES
        task = await store.get_task("tsk_old")
        assert (task["created_at"], task["updated_at"]) == (WHEN, LATER)
        assert (task["metadata"], task["request"]) == (METADATA, REQUEST)
        events = {row["dedupe_key"]: row for row in await raw_events(url)}
        assert events["a"]["payload"] == PAYLOAD  # byte for byte, as jsonb would not keep it
        assert events["b"]["payload"] is None  # no payload
        assert json.loads(events["c"]["payload"]) == "not json {"  # kept, as a JSON string
        assert {row["received_at"] for row in await store.task_events("tsk_old")} == {WHEN, LATER}
        assert await counts(url) == counted  # re-typing the columns changed no count
        await store.create_task(NewTask("tsk_new", "wave", "m", {}, cost_usd=0.25))
        await store.record_event("tsk_new", EventIn("s", "submit", Observation("queued"), "p"))
    finally:
        await store.close()
    today = [row for row in await counts(url) if row[0] == "days" and row[2] != "2026-03-01"]
    assert len(today) == 1 and today[0][3:] == (1, 250000)  # the day trigger reads timestamptz


async def raw_events(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch("SELECT dedupe_key, payload FROM events")
    finally:
        await conn.close()


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
async def test_times_read_back_as_written_whatever_the_session_zone(zone: str) -> None:
    async with fresh_postgres() as url:
        conn = await asyncpg.connect(url, server_settings={"timezone": zone,
                                                           "datestyle": "SQL, DMY"})
        try:
            await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=encode_time,
                                      decoder=decode_time, format="tuple")
            for moment in (WHEN, LATER, "1999-12-31T23:59:59.999Z", "2000-01-01T00:00:00.000Z"):
                assert await conn.fetchval("SELECT CAST($1 AS timestamptz)", moment) == moment
            text = await conn.fetchval("SELECT to_char(CAST($1 AS timestamptz) AT TIME ZONE"
                                       " 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')", WHEN)
            assert text == "2026-03-01 23:59:59.999"
        finally:
            await conn.close()
