"""Polling keeps its backoff when an answer breaks our reading of it, and a cancelled held task
is never sent."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp import web

from receiver.providers.sandbox import LocalServer
from receiver.settings import ProviderSettings
from store import EventIn, NewTask, Observation, Store
from tests.conftest import apimart

DEEP = "[" * 100_000 + "]" * 100_000  # valid JSON that Python's decoder cannot read


class GarbageApimart:
    """An APIMart that accepts tasks and answers every Get Task with absurdly nested JSON."""

    def __init__(self) -> None:
        self.polls = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/videos/generations", self._create)
        app.router.add_get("/v1/tasks/{task_id}", self._get)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        return web.json_response({"code": 200, "data": [{"status": "submitted", "task_id": "t-1"}]})

    async def _get(self, request: web.Request) -> web.Response:
        self.polls += 1
        return web.Response(text=DEEP, content_type="application/json")


async def test_unreadable_poll_answer_is_polled_with_backoff(
    start_app: Any, settings: Any, db_path: str
) -> None:
    fake = GarbageApimart()
    async with LocalServer(fake.app()) as server:
        providers = dict(settings.providers)
        providers["apimart"] = ProviderSettings("key", server.url)
        client = await start_app(providers=providers, poll_initial=0.02, poll_max_interval=30.0)
        task = await (await client.post("/v1/tasks", json=apimart())).json()
        for _ in range(1000):
            if fake.polls >= 3:
                break
            await asyncio.sleep(0.01)
        assert fake.polls >= 3
        with contextlib.closing(sqlite3.connect(db_path)) as conn:
            attempts = conn.execute(
                "SELECT poll_attempts FROM tasks WHERE id = ?", (task["id"],)
            ).fetchone()[0]
        assert attempts >= 2  # each poll scheduled the next one, further off
        await client.close()


async def test_claim_slot_never_takes_a_cancelled_task(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "claim.db"))
    try:
        task_id = "tsk_" + "1" * 28
        await store.create_task(NewTask(id=task_id, provider="wave", model="skyreels-v4-fast",
                                        request={}))
        await store.submits.hold(task_id, "sealed", 0.0)
        held = await store.submits.held(1e12)
        assert [row["id"] for row in held] == [task_id]
        seen = Observation("cancelled", error="cancelled by client before it was sent")
        await store.record_event(task_id, EventIn("cancel:held", "client", seen))
        # The queue read the held row before the cancel; its claim must now fail.
        assert await store.submits.claim_slot(task_id, "wave", 5) is False
        assert await store.submits.claim_slot(task_id, "wave", 0) is False
        task = await store.get_task(task_id)
        assert task["status"] == "cancelled" and task["submit_state"] == "pending"
    finally:
        await store.close()
