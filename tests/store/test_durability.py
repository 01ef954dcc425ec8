"""A callback is acknowledged only once its event is committed; a busy store answers 503."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.helpers import events_of, piapi_callback, post_callback, skyreels


async def test_locked_database_gives_503_then_the_retry_is_recorded_once(
    start_app: Any, piapi_sim: Any, db_path: str
) -> None:
    client = await start_app(db_busy_timeout=0.2)
    piapi_sim.script.drop_callbacks = True
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    secret = piapi_sim.received[-1]["body"]["config"]["webhook_config"]["secret"]
    path = f"/callbacks/piapi/{task['id']}"
    body = piapi_callback(task, "completed", output={"video_url": "https://cdn.example/v.mp4"})

    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        refused = await post_callback(client, path, body, secret)
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "1"
        assert (await refused.json())["error"]["code"] == "unavailable"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    still = await (await client.get(f"/v1/tasks/{task['id']}")).json()
    assert still["status"] == "queued"

    accepted = await post_callback(client, path, body, secret)
    assert accepted.status == 200
    again = await post_callback(client, path, body, secret)
    assert (await again.json())["duplicate"] is True
    callbacks = [e for e in await events_of(client, task["id"]) if e["source"] == "callback"]
    assert len(callbacks) == 1
    final = await (await client.get(f"/v1/tasks/{task['id']}")).json()
    assert final["status"] == "succeeded"
