"""The outbox worker's rounds: one read of due deliveries serves the rounds that follow, every
notice still goes out once, and a notice queued behind a held-back digest is not kept waiting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dispatcher.attempt_log import AttemptLog
from dispatcher.config import DispatchConfig
from dispatcher.pacing import Pacer, group_by_route, plan
from dispatcher.worker import Worker, lease_covers_send
from receiver.sandbox.sinks import Answer
from receiver.services.secrets import SecretBox, new_fernet_key
from store import EventIn, NewDestination, NewTask, Observation, SqliteStore
from store.errors import StoreUnavailable
from store.models import new_task_id
from store.plans.outbox import AttemptRecord
from tests.helpers import WEBHOOK_SECRET, until


class CountingOutbox:
    """The store's outbox, with its reads of due deliveries counted."""

    def __init__(self, outbox: Any) -> None:
        self._outbox = outbox
        self.due_reads = 0
        self.claims: list[int] = []  # how many deliveries each claim asked for

    async def due(self, *args: Any) -> list[dict[str, Any]]:
        self.due_reads += 1
        return list(await self._outbox.due(*args))

    async def claim_rows(self, ids: list[int], *args: Any) -> Any:
        self.claims.append(len(ids))
        return await self._outbox.claim_rows(ids, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outbox, name)


async def finished_tasks(
    store: SqliteStore, box: SecretBox, channel: str, target: dict[str, str], count: int
) -> None:
    """`count` succeeded tasks, each with one destination on `channel`."""
    sealed = box.encrypt(json.dumps(target))
    destination = NewDestination(channel, sealed, f"{channel} test", f"{channel}-route")
    for _ in range(count):
        task_id = new_task_id()
        await store.create_task(NewTask(task_id, "piapi", "Qubico/skyreels", {},
                                        destinations=(destination,)))
        done = Observation("succeeded", 100, "https://videos.example.com/v.mp4")
        await store.record_event(task_id, EventIn("test:done", "poll", done))


@pytest.fixture
def box() -> SecretBox:
    """The key destinations are sealed with."""
    return SecretBox(new_fernet_key().encode())


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A store on a fresh SQLite file."""
    opened = await SqliteStore.open(str(tmp_path / "r.db"))
    yield opened
    await opened.close()


async def webhooks_due(store: SqliteStore, box: SecretBox, sink: Any, count: int) -> None:
    """`count` succeeded tasks, each with a webhook to `sink`."""
    await finished_tasks(store, box, "webhook", {"url": sink.url, "secret": WEBHOOK_SECRET},
                         count)


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[None]:
    """The worker running until the block ends; then stopped as a shutdown stops it."""
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_one_read_of_due_deliveries_serves_many_rounds(
    store: SqliteStore, box: SecretBox, webhook_sink: Any
) -> None:
    await webhooks_due(store, box, webhook_sink, 60)
    outbox = CountingOutbox(store.outbox)
    config = DispatchConfig(decrypt=box.decrypt, concurrency=4, poll_interval=0.05,
                            due_reuse=3600.0, per_destination=100)  # one route: no fair share
    worker = Worker(outbox, config)  # type: ignore[arg-type]
    await worker.run_until_idle(timeout=30)
    ids = [item.headers["webhook-id"] for item in webhook_sink.accepted]
    assert len(ids) == 60 and len(set(ids)) == 60
    assert all(item.verified for item in webhook_sink.accepted)
    # 60 sends at most 4 at a time take 15+ rounds; rows read once serve many of them.
    assert outbox.due_reads < 10
    # A claim is for the free slots and as many places to wait: the first one for 8, and never
    # one claim per send.
    assert outbox.claims[0] == 8 and sum(outbox.claims) == 60 and len(outbox.claims) <= 30


async def test_claimed_deliveries_still_waiting_are_handed_back_on_stop(
    store: SqliteStore, box: SecretBox, webhook_sink: Any
) -> None:
    webhook_sink.script = [Answer(delay=0.5), Answer(delay=0.5)]  # two slow sends
    config = DispatchConfig(decrypt=box.decrypt, concurrency=2, poll_interval=0.05)
    await webhooks_due(store, box, webhook_sink, 10)
    async with running(Worker(store.outbox, config)):
        await webhook_sink.wait_until(lambda: len(webhook_sink.received) == 2)
    # Stopped with two sends under way and two more claimed, waiting for a slot.
    deliveries = await store.outbox.deliveries()
    assert len(webhook_sink.received) == 2
    statuses = sorted(d["status"] for d in deliveries)
    assert statuses == ["delivered"] * 2 + ["pending"] * 8  # none left claimed
    assert all(d["claim_owner"] is None for d in deliveries)


async def test_sends_run_on_a_fixed_set_of_senders_not_a_task_each(
    store: SqliteStore, box: SecretBox, webhook_sink: Any
) -> None:
    await webhooks_due(store, box, webhook_sink, 40)
    config = DispatchConfig(decrypt=box.decrypt, concurrency=4, poll_interval=0.05,
                            per_destination=100)
    started: list[asyncio.Task[Any]] = []
    loop = asyncio.get_running_loop()
    plain = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        task = (plain(loop, coro, **kwargs) if plain
                else asyncio.Task(coro, loop=loop, **kwargs))
        started.append(task)
        return task

    loop.set_task_factory(counting)
    try:
        await Worker(store.outbox, config).run_until_idle(timeout=30)
    finally:
        loop.set_task_factory(plain)
    assert len(webhook_sink.accepted) == 40
    senders = [task for task in started if "_sender" in repr(task.get_coro())]
    assert len(senders) == 4  # one per slot, not one per send
    assert not [task for task in started if "AttemptRunner.attempt" in repr(task.get_coro())]


async def test_a_stray_cancellation_inside_a_send_costs_that_send_only(
    store: SqliteStore, box: SecretBox, webhook_sink: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A library raising CancelledError inside one send must not end the sender that ran it.
    await webhooks_due(store, box, webhook_sink, 5)
    config = DispatchConfig(decrypt=box.decrypt, concurrency=1, poll_interval=0.05)
    raised: list[str] = []

    async def cancel_the_first(*_: Any) -> None:
        if not raised:
            raised.append("cancelled")
            raise asyncio.CancelledError

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(cancel_the_first)
    worker = Worker(store.outbox, config,
                    session_factory=lambda: aiohttp.ClientSession(trace_configs=[trace]))
    await worker.run_until_idle(timeout=30)
    assert raised and len(webhook_sink.accepted) == 4  # the others went out on the one sender
    statuses = Counter(d["status"] for d in await store.outbox.deliveries())
    assert statuses == {"delivered": 4, "sending": 1}  # the cancelled one waits for its lease
    assert "cancelled from within" in caplog.text


async def test_a_worker_run_again_after_a_stop_sends_again(
    store: SqliteStore, box: SecretBox, webhook_sink: Any
) -> None:
    # A watched loop whose run ended (its writer stopped, say) is started again: its senders too.
    config = DispatchConfig(decrypt=box.decrypt, concurrency=2, poll_interval=0.05)
    worker = Worker(store.outbox, config)
    await webhooks_due(store, box, webhook_sink, 3)
    await worker.run_until_idle(timeout=30)
    await webhooks_due(store, box, webhook_sink, 3)
    await worker.run_until_idle(timeout=30)
    assert len(webhook_sink.accepted) == 6
    assert {d["status"] for d in await store.outbox.deliveries()} == {"delivered"}


async def test_a_notice_behind_a_held_digest_is_not_kept_waiting(
    store: SqliteStore, box: SecretBox, slack_sink: Any, webhook_sink: Any
) -> None:
    # Rows read once would serve the rounds for an hour: only the rule that a round which can
    # start nothing reads again gets the webhook out before `until` gives up.
    config = DispatchConfig(decrypt=box.decrypt, slack_interval=3600.0, poll_interval=0.05,
                            due_reuse=3600.0)
    async with running(Worker(store.outbox, config)):
        await finished_tasks(store, box, "slack", {"url": slack_sink.url}, 2)
        await until(lambda: len(slack_sink.accepted) == 1)  # one digest; the route is paced now
        await finished_tasks(store, box, "slack", {"url": slack_sink.url}, 2)  # held: paced
        await asyncio.sleep(0.2)  # rounds that can start nothing from what they read
        await webhooks_due(store, box, webhook_sink, 1)
        await until(lambda: len(webhook_sink.accepted) == 1)
        assert len(slack_sink.accepted) == 1


def test_a_round_builds_only_the_batches_it_can_start() -> None:
    rows = [{"delivery_id": i, "channel": "webhook", "route_key": f"r{i % 3}",
             "destination_id": i} for i in range(10)]
    slack = [{"delivery_id": 100 + i, "channel": "slack", "route_key": "s",
              "destination_id": 99} for i in range(4)]
    chosen = plan(group_by_route([*slack, *rows]), {"slack": 50, "webhook": 1}, Pacer(1.0),
                  {}, 3, 0.0)
    assert [batch.ids for batch in chosen.batches] == [[100, 101, 102, 103], [0], [3]]
    assert chosen.held == 8


def test_one_route_gets_a_fair_share_of_the_slots_not_all_of_them() -> None:
    hanging = [{"delivery_id": i, "channel": "webhook", "route_key": "slow",
                "destination_id": 1} for i in range(30)]
    other = [{"delivery_id": 100, "channel": "webhook", "route_key": "fast",
              "destination_id": 2}]
    groups = group_by_route([*hanging, *other])
    chosen = plan(groups, {"webhook": 1}, Pacer(1.0), {}, 20, 0.0, per_route=5)
    assert [batch.ids[0] for batch in chosen.batches] == [0, 1, 2, 3, 4, 100]
    assert chosen.held == 25
    later = plan(groups, {"webhook": 1}, Pacer(1.0), {"slow": 4}, 20, 0.0, per_route=5)
    assert [batch.route for batch in later.batches] == ["slow", "fast"]


def test_a_claim_waiting_too_long_for_a_slot_is_left_to_its_lease() -> None:
    config = DispatchConfig(decrypt=str, timeout=10.0)  # lease: 21 s
    assert lease_covers_send(100.0, 100.0, config)
    assert lease_covers_send(100.0, 109.9, config)
    assert not lease_covers_send(100.0, 110.1, config)  # it could still be sending at 121


async def test_an_ended_send_is_recorded_with_the_next_claim_and_the_rest_at_stop(
    store: SqliteStore, box: SecretBox, webhook_sink: Any
) -> None:
    # Records would wait an hour for company: only a claim (or the stop) writes them.
    config = DispatchConfig(decrypt=box.decrypt, concurrency=1, poll_interval=0.05,
                            record_delay=3600.0)
    await webhooks_due(store, box, webhook_sink, 3)

    async def first_recorded_only() -> bool:
        return await _statuses(store) == ["delivered", "sending", "sending"]

    async with running(Worker(store.outbox, config)):
        await webhook_sink.wait_until(lambda: len(webhook_sink.accepted) == 3)
        # The first claim took two (one slot, one waiting). The first send's end freed the slot
        # and the round that claimed the third wrote its record; the other two still wait.
        await until(first_recorded_only)
    assert await _statuses(store) == ["delivered"] * 3  # the stop wrote what waited
    ids = [item.headers["webhook-id"] for item in webhook_sink.accepted]
    assert len(set(ids)) == 3 and len(webhook_sink.received) == 3


async def _statuses(store: SqliteStore) -> list[str]:
    """Every delivery's status, oldest first."""
    return [d["status"] for d in reversed(await store.outbox.deliveries())]


class BusyOutbox:
    """An outbox whose database stays busy: every write of attempts is refused for now."""

    def __init__(self) -> None:
        self.tries = 0

    async def finish(self, records: Any, owner: str, policy: Any = None) -> None:
        self.tries += 1
        raise StoreUnavailable("database is locked")


async def test_attempts_still_unwritable_at_stop_are_left_to_the_lease_in_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = BusyOutbox()
    attempt_log = AttemptLog(outbox, "me", delay=3600.0)  # type: ignore[arg-type]
    attempt_log.add([AttemptRecord(1, 0.0, 1.0, "delivered")])
    assert outbox.tries == 0 and attempt_log.busy  # waiting for company, not written yet
    await asyncio.wait_for(attempt_log.drain(timeout=0.3), 5)
    assert outbox.tries >= 2  # a busy database is tried again...
    assert not attempt_log.busy  # ...until the stop's patience ends
    assert "left unrecorded at stop" in caplog.text


async def test_a_run_until_idle_takes_over_a_claim_left_by_a_killed_worker(
    store: SqliteStore, box: SecretBox, webhook_sink: Any, tmp_path: Path
) -> None:
    """What `tick` does after a tick (or worker) was killed mid-send: the stale claim is due
    once its lease has run out, and this run waits for it rather than ending idle."""
    await webhooks_due(store, box, webhook_sink, 1)
    config = DispatchConfig(decrypt=box.decrypt, timeout=1.0, poll_interval=0.05)
    [delivery] = await store.outbox.deliveries()
    now = time.time()
    assert await store.outbox.claim([delivery["id"]], "killed", now + 1, now - 60)
    with contextlib.closing(sqlite3.connect(tmp_path / "r.db")) as conn:  # claimed long ago
        conn.execute("UPDATE deliveries SET claimed_at = ?", (now - 10 * config.lease,))
        conn.commit()
    await Worker(store.outbox, config).run_until_idle(timeout=30)
    assert len(webhook_sink.accepted) == 1
    [sent] = await store.outbox.deliveries()
    assert sent["status"] == "delivered"


async def test_at_info_a_worker_logs_counts_not_a_line_per_delivery(
    store: SqliteStore, box: SecretBox, webhook_sink: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reelhook")
    webhook_sink.script = [Answer(status=500)]  # the first send is refused, retried
    await webhooks_due(store, box, webhook_sink, 3)
    config = DispatchConfig(decrypt=box.decrypt, poll_interval=0.05, schedule=(0.05,),
                            jitter=0.0, count_every=0.0)
    await Worker(store.outbox, config).run_until_idle(timeout=30)
    said = [r.getMessage() for r in caplog.records if r.name == "reelhook.dispatcher"]
    assert not [line for line in said if line.startswith("delivery ")]
    counted = Counter[str]()
    for line in said:
        if " attempts: " in line:
            for part in line.split(" attempts: ")[1].split(", "):
                outcome, number = part.split()
                counted[outcome] += int(number)
    assert counted == {"delivered": 3, "retrying": 1}


async def test_at_debug_each_attempt_has_its_line(
    store: SqliteStore, box: SecretBox, webhook_sink: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reelhook.dispatcher")
    await webhooks_due(store, box, webhook_sink, 2)
    config = DispatchConfig(decrypt=box.decrypt, poll_interval=0.05)
    await Worker(store.outbox, config).run_until_idle(timeout=30)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("delivery ")]
    assert len(lines) == 2 and all(line.endswith("attempt 1: delivered") for line in lines)
    assert all(r.levelno == logging.DEBUG for r in caplog.records
               if r.getMessage().startswith("delivery "))


class SlowToOpen:
    """A session whose opening does not end until `opened` is set (a start under load)."""

    def __init__(self, opening: asyncio.Event, opened: asyncio.Event) -> None:
        self._opening, self._opened = opening, opened
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> aiohttp.ClientSession:
        self._opening.set()
        await self._opened.wait()
        self._session = aiohttp.ClientSession()
        return self._session

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()


async def test_a_worker_stopped_while_it_starts_says_it_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await SqliteStore.open(str(tmp_path / "r.db"))
    opening, opened = asyncio.Event(), asyncio.Event()
    config = DispatchConfig(decrypt=SecretBox(new_fernet_key().encode()).decrypt,
                            poll_interval=0.05)
    worker = Worker(store.outbox, config,
                    session_factory=lambda: SlowToOpen(opening, opened))  # type: ignore[arg-type,return-value]
    try:
        with caplog.at_level(logging.INFO, logger="reelhook.dispatcher"):
            task = asyncio.create_task(worker.run())
            await asyncio.wait_for(opening.wait(), 5)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await store.close()
    said = [record.getMessage() for record in caplog.records]
    assert any(message.endswith(" started") for message in said)
    assert any(message.endswith(" stopped") for message in said)
