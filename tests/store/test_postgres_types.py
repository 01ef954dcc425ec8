"""m015 and m016 on PostgreSQL: times become timestamptz and JSON jsonb through forward
migrations that keep every row (the escapes jsonb cannot hold, a NUL or half a surrogate pair,
become U+FFFD, as new values are written), and the store reads and writes the same ISO 8601 text
as on SQLite, whatever the session's zone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from store import EventIn, NewTask, Observation, open_store
from store.postgres.schema import migrate
from store.postgres.types import decode_time, encode_time, storable_json
from tests.databases import fresh_postgres

WHEN = "2026-03-01T23:59:59.999Z"
LATER = "2026-03-02T00:00:00.001Z"
# Written as text before m015: not canonical (keys unsorted, 1e+20 spelled so), a NUL escape.
PAYLOAD = '{"z":1,"a":{"n":1e+20,"s":"nul \\u0000 here"},"m":[-0.0,"\\ud800"]}'
METADATA = '{"b":"2","a":1}'
REQUEST = '{"prompt":"a cat","model":"m"}'
# PAYLOAD as jsonb holds it: the NUL and the lone surrogate are U+FFFD, the rest as it was.
STORED = {"z": 1, "a": {"n": 1e20, "s": "nul \ufffd here"}, "m": [-0.0, "\ufffd"]}
TYPES = {
    ("tasks", "created_at"): "timestamp with time zone",
    ("tasks", "updated_at"): "timestamp with time zone",
    ("tasks", "video_kept_at"): "timestamp with time zone",
    ("tasks", "metadata"): "jsonb",
    ("tasks", "request"): "jsonb",
    ("events", "received_at"): "timestamp with time zone",
    ("events", "payload"): "jsonb",
    ("deliveries", "created_at"): "timestamp with time zone",
    ("deliveries", "delivered_at"): "timestamp with time zone",
    ("attempts", "started_at"): "timestamp with time zone",
    ("inbound_messages", "received_at"): "timestamp with time zone",
    ("inbound_messages", "payload"): "jsonb",
    ("destinations", "deleted_at"): "timestamp with time zone",
    ("destinations", "metadata_filter"): "jsonb",
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
        assert json.loads(task["metadata"]) == json.loads(METADATA)
        assert json.loads(task["request"]) == json.loads(REQUEST)
        events = {row["dedupe_key"]: row for row in await raw_events(url)}
        assert json.loads(events["a"]["payload"]) == STORED
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


# (JSON text, as jsonb can hold it): unescaped NUL and lone surrogate escapes become U+FFFD's;
# an escaped backslash before "u0000" is text, and a whole surrogate pair stays.
ESCAPES = [
    (r'{"a":"\u0000\u0000"}', r'{"a":"\ufffd\ufffd"}'),
    (r'["\\u0000","\\\u0000"]', r'["\\u0000","\\\ufffd"]'),
    (r'["\ud800","\ud83d\ude00","\udc00","\ud83d\ude00\ud800"]',
     r'["\ufffd","\ud83d\ude00","\ufffd","\ud83d\ude00\ufffd"]'),
    (r'{"\u0000key":"\u00e9\n"}', r'{"\ufffdkey":"\u00e9\n"}'),
    (r'["\\ud800\udc00","\\ud83d\ude00"]', r'["\\ud800\ufffd","\\ud83d\ufffd"]'),
    (r'["\uD83D\uDE00\uDBFF","\ud800\ud800\udc00"]',
     r'["\uD83D\uDE00\ufffd","\ufffd\ud800\udc00"]'),
    ('{"plain": "no escape"}', '{"plain": "no escape"}'),
]


@pytest.mark.parametrize(("text", "storable"), ESCAPES)
def test_escapes_jsonb_cannot_hold_become_the_replacement_character(
    text: str, storable: str
) -> None:
    assert storable_json(text) == storable
    json.loads(storable)  # still JSON


async def test_a_nul_or_a_lone_surrogate_in_a_payload_is_recorded_on_postgres() -> None:
    """A callback whose JSON holds what jsonb refuses is recorded, not refused over and over."""
    payload = '{"text":"a\\u0000b","half":"\\ud800","pair":"\\ud83d\\ude00"}'
    async with fresh_postgres() as url:
        store = await open_store(url)
        try:
            await store.create_task(NewTask("tsk_nul", "wave", "m", {"prompt": "\u0000"},
                                            metadata={"k": "\u0000"}))
            await store.record_event("tsk_nul", EventIn("n", "callback", Observation("running"),
                                                        "running", payload))
            assert await store.inbound.record("s", "msg_nul", payload)
            [event] = await store.task_events("tsk_nul")
            [message] = await store.inbound.messages("s")
            task = await store.get_task("tsk_nul")
        finally:
            await store.close()
    expected = {"text": "a\ufffdb", "half": "\ufffd", "pair": "\U0001f600"}
    assert json.loads(event["payload"]) == json.loads(message["payload"]) == expected
    assert json.loads(task["metadata"]) == {"k": "\ufffd"}
    assert json.loads(task["request"]) == {"prompt": "\ufffd"}


async def test_the_migration_makes_the_same_escapes_storable_as_new_writes() -> None:
    async with fresh_postgres(migrate=False) as url:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn, stop_before="m016_postgres_jsonb")
            await conn.executemany(
                "INSERT INTO inbound_messages (source, webhook_id, received_at, payload)"
                " VALUES ('s', $1, now(), CAST($2 AS json))",
                [(str(n), text) for n, (text, _) in enumerate(ESCAPES)])
            await migrate(conn)
            rows = await conn.fetch("SELECT webhook_id, CAST(payload AS text) AS payload"
                                    " FROM inbound_messages ORDER BY CAST(webhook_id AS int)")
        finally:
            await conn.close()
    assert [json.loads(row["payload"]) for row in rows] == [
        json.loads(storable) for _, storable in ESCAPES]
