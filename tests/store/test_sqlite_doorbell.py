"""Processes on one SQLite file wake each other (store/sqlite/doorbell.py): each store here has
its own doorbell, exactly as a separate `reelhook serve` or `reelhook worker` would."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from pathlib import Path
from typing import Any

from store import EventIn, NewDestination, NewTask, Observation, open_store
from store.interface import DELIVERIES, SLOTS
from store.sqlite.doorbell import Doorbell, bells_folder
from tests.helpers import FAST_RETRIES, notice_sent_by_the_other_app, until

HOOK = NewDestination("webhook", "sealed-target", "hook", "route-1")


async def test_a_notice_queued_in_one_process_wakes_the_listeners_of_another(
    db_path: str,
) -> None:
    web, worker = await open_store(db_path), await open_store(db_path)
    heard: list[str] = []
    try:
        worker.subscribe(DELIVERIES, lambda _: heard.append(DELIVERIES))
        worker.subscribe(SLOTS, lambda _: heard.append(SLOTS))
        await web.create_task(NewTask(id="tsk_1", provider="wave", model="skyreels-v4-fast",
                                      request={}, destinations=(HOOK,)))
        await web.record_event("tsk_1", EventIn("e1", "cb", Observation("running", 10)))
        assert heard == []  # nothing to send, no slot freed: no ring
        await web.record_event("tsk_1", EventIn("e2", "cb", Observation("failed")))
        await until(lambda: {DELIVERIES, SLOTS} <= set(heard), what="the rings")
    finally:
        await web.close()
        await worker.close()
    assert os.listdir(bells_folder(db_path) or "") == []  # each removed its own socket


async def test_a_socket_left_by_a_killed_process_is_removed_at_the_next_ring(
    db_path: str,
) -> None:
    folder = bells_folder(db_path)
    assert folder is not None
    folder.mkdir()
    left = folder / "4242-deadbeef"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as killed:
        killed.bind(str(left))  # closed without unlinking, as a SIGKILL leaves it
    bell = Doorbell(db_path)
    bell.ring(DELIVERIES)
    bell.close()
    assert not left.exists()


async def test_a_path_too_long_for_a_socket_leaves_the_poll(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    bell = Doorbell(str(deep / "reelhook.db"))
    assert bell.listen(lambda _: None) is False
    bell.ring(DELIVERIES)  # nobody to ring: no error
    bell.close()


async def test_a_notice_queued_by_a_web_process_is_sent_by_a_worker_on_the_same_file(
    start_app: Any, settings: Any, webhook_sink: Any
) -> None:
    # The web process sends no notices; the worker looks for due deliveries only every 60 s on
    # its own, so a notice that arrives well before then was started by the doorbell.
    web = await start_app(run_worker=False)
    worker = await start_app(**FAST_RETRIES | {"dispatch_interval": 60.0}, port=0)
    await notice_sent_by_the_other_app(web, worker, webhook_sink)


async def test_a_write_committed_while_the_store_closes_leaves_no_socket_open(
    db_path: str,
) -> None:
    web, worker = await open_store(db_path), await open_store(db_path)
    heard: list[str] = []
    worker.subscribe(DELIVERIES, heard.append)
    await web.create_task(NewTask(id="tsk_1", provider="wave", model="skyreels-v4-fast",
                                  request={}, destinations=(HOOK,)))
    failed = EventIn("f", "callback", Observation("failed"))
    job = asyncio.ensure_future(web.record_event("tsk_1", failed))
    await asyncio.sleep(0)  # queued in the writer when the close begins
    await web.close()
    assert (await job).notices_queued == 1  # committed by the close
    await worker.close()
    gc.collect()  # a socket left open would be reported here, failing the test
