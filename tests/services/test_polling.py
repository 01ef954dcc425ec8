"""Polling as the safety net: lost callbacks, backoff, deduplication against callbacks."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from receiver.sandbox.providers import LocalServer
from receiver.services.poller import poll_interval
from receiver.settings import ProviderSettings
from tests.helpers import apimart, skyreels, until, wait_for_status, wave


async def test_piapi_task_with_dropped_callbacks_succeeds_through_polling(
    start_app: Any, piapi_sim: Any
) -> None:
    piapi_sim.script.drop_callbacks = True
    client = await start_app(poll_initial=0.05, callback_grace=0.2, poll_max_interval=0.2)
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded"
    assert done["video_url"] == f"{piapi_sim.base_url}/videos/{task['provider_task_id']}.mp4"
    assert all(sent.answer is None for sent in piapi_sim.sent)
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    assert events[-1]["source"] == "poll" and events[-1]["status"] == "succeeded"


async def test_wave_task_with_dropped_callbacks_succeeds_through_polling(
    start_app: Any, wave_sim: Any
) -> None:
    wave_sim.script.drop_callbacks = True
    client = await start_app(poll_initial=0.05, callback_grace=0.2, poll_max_interval=0.2)
    task = await (await client.post("/v1/tasks", json=wave())).json()
    done = await wait_for_status(client, task["id"])
    assert done["status"] == "succeeded" and done["video_url"].endswith(".mp4")


async def test_polls_that_say_nothing_new_are_not_recorded(start_app: Any, piapi_sim: Any) -> None:
    client = await start_app(poll_initial=0.05, callback_grace=0.05, poll_max_interval=0.05)
    piapi_sim.script.step_delay = 0.3
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    await wait_for_status(client, task["id"])
    await piapi_sim.wait_idle()
    events = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
    for index, event in enumerate(events):
        if event["source"] == "poll":
            earlier = {e["status"] for e in events[:index]}
            assert event["status"] not in earlier, events
    polled = [e["status"] for e in events if e["source"] == "poll"]
    assert polled.count("succeeded") <= 1


def test_backoff_starts_soon_and_stops_at_the_ceiling(settings: Any) -> None:
    chosen = replace(settings, poll_initial=5.0, poll_max_interval=60.0)
    gaps = [poll_interval(attempt, chosen) for attempt in range(8)]
    assert gaps[:4] == [5.0, 10.0, 20.0, 40.0]
    assert gaps[4:] == [60.0] * 4


# An answer that breaks our reading of it keeps the poll's backoff.

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
    start_app: Any, settings: Any, db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reelhook.polling")
    fake = GarbageApimart()
    async with LocalServer(fake.app()) as server:
        providers = dict(settings.providers)
        providers["apimart"] = ProviderSettings("key", server.url)
        client = await start_app(providers=providers, poll_initial=0.02, poll_max_interval=30.0)
        task = await (await client.post("/v1/tasks", json=apimart())).json()
        await until(lambda: fake.polls >= 3, what="three polls")
        with contextlib.closing(sqlite3.connect(db_path)) as conn:
            attempts = conn.execute(
                "SELECT poll_attempts FROM tasks WHERE id = ?", (task["id"],)
            ).fetchone()[0]
        assert attempts >= 2  # each poll scheduled the next one, further off
        # The provider's fault, not ours, whichever JSON decoder gives up on it: one WARNING a poll.
        said = [r for r in caplog.records if task["id"] in r.getMessage()]
        assert said and all(r.levelno == logging.WARNING for r in said)
        assert all(" failed: " in r.getMessage() for r in said)
        await client.close()


# A Get Task answer about another task is never applied to ours.


class MixedUpWave:
    """A Wave that accepts tasks as w-1 and answers every Get Task about w-2, finished."""

    def __init__(self) -> None:
        self.polls = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/tasks", self._create)
        app.router.add_get("/v1/tasks/{task_id}", self._get)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        return web.json_response({"task_id": "w-1", "status": "queued"})

    async def _get(self, request: web.Request) -> web.Response:
        self.polls += 1
        return web.json_response({"task_id": "w-2", "status": "completed", "progress": 100,
                                  "result": {"video_url": "https://cdn.example/not-ours.mp4"}})


async def test_a_get_task_answer_about_another_task_is_not_applied(
    start_app: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reelhook.polling")
    fake = MixedUpWave()
    async with LocalServer(fake.app()) as server:
        providers = dict(settings.providers)
        providers["wave"] = ProviderSettings("key", server.url)
        client = await start_app(providers=providers, poll_initial=0.02, callback_grace=0.02,
                                 poll_max_interval=0.05)
        task = await (await client.post("/v1/tasks", json=wave())).json()
        await until(lambda: fake.polls >= 3, what="three polls")
        now = await (await client.get(f"/v1/tasks/{task['id']}")).json()
        assert (now["status"], now["video_url"]) == ("queued", None)
        assert now["provider_task_id"] == "w-1"
        said = [r.getMessage() for r in caplog.records if task["id"] in r.getMessage()]
        assert said and all("about another task (w-2); not applied" in m for m in said)
        await client.close()
