"""A real `reelhook serve` killed (SIGKILL) or stopped (SIGTERM) loses no acknowledged event."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.providers.http import body_hash
from receiver.services.secrets import new_fernet_key
from tests.helpers import ServedReelhook, skyreels


@pytest.fixture
def served(tmp_path: Path, piapi_sim: Any) -> ServedReelhook:
    piapi_sim.script.drop_callbacks = True
    return ServedReelhook(
        {
            "REELHOOK_DATABASE": str(tmp_path / "faults.db"),
            "REELHOOK_SECRET_KEY": new_fernet_key(),
            "PIAPI_BASE_URL": piapi_sim.base_url,
            "PIAPI_API_KEY": piapi_sim.api_key,
        }
    )


async def _tasks_with_secrets(served: ServedReelhook, sim: Any, count: int) -> list[dict[str, Any]]:
    async with served.client() as client:
        tasks = [
            (await client.post("/v1/tasks", json=skyreels(prompt=f"t{i}"))).json()
            for i in range(count)
        ]
    for task, sent in zip(tasks, sim.received[-count:], strict=True):
        task["secret"] = sent["body"]["config"]["webhook_config"]["secret"]
    return tasks


def _callback(task: dict[str, Any], n: int) -> bytes:
    data = {
        "task_id": task["provider_task_id"],
        "status": "processing",
        "logs": [f"step {n}"],
        "output": {},
    }
    return json.dumps({"timestamp": 1_800_000_000 + n, "data": data}).encode()


async def _fire(
    served: ServedReelhook,
    tasks: list[dict[str, Any]],
    rounds: int,
    acknowledged: list[tuple[str, bytes]],
) -> None:
    """Send rounds x tasks callbacks at once; note each (task id, body) acknowledged 2xx."""

    async def one(client: httpx.AsyncClient, task: dict[str, Any], n: int) -> None:
        body = _callback(task, n)
        try:
            answer = await client.post(
                f"/callbacks/piapi/{task['id']}",
                content=body,
                headers={"x-webhook-secret": task["secret"], "content-type": "application/json"},
            )
        except httpx.HTTPError:
            return
        if 200 <= answer.status_code < 300:
            acknowledged.append((task["id"], body))

    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=served.url, limits=limits, timeout=10) as client:
        await asyncio.gather(*(one(client, t, n) for n in range(rounds) for t in tasks))


async def _until(acknowledged: list[Any], count: int) -> None:
    for _ in range(3000):
        if len(acknowledged) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {len(acknowledged)} callbacks acknowledged")


def _recorded_keys(db: str) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return set(conn.execute("SELECT task_id, dedupe_key FROM events WHERE source = 'callback'"))


def _key(task: dict[str, Any], body: bytes) -> str:
    message = json.loads(body)
    return f"cb:{task['provider_task_id']}:processing:{message['timestamp']}:{body_hash(body)}"


async def test_sigkill_mid_flight_loses_no_acknowledged_callback(
    served: ServedReelhook, piapi_sim: Any
) -> None:
    await served.start()
    tasks = await _tasks_with_secrets(served, piapi_sim, 8)
    by_id = {task["id"]: task for task in tasks}
    acknowledged: list[tuple[str, bytes]] = []
    firing = asyncio.create_task(_fire(served, tasks, 60, acknowledged))
    await _until(acknowledged, 40)
    assert await served.kill() == -signal.SIGKILL
    await firing
    assert len(acknowledged) < 480, "every callback finished before the kill; nothing was in flight"

    await served.start()
    recorded = _recorded_keys(served.env["REELHOOK_DATABASE"])
    missing = [
        (tid, body) for tid, body in acknowledged if (tid, _key(by_id[tid], body)) not in recorded
    ]
    assert missing == []
    async with served.client() as client:
        assert (await client.get(f"/v1/tasks/{tasks[0]['id']}")).json()["status"] == "running"
    await served.signal(signal.SIGTERM)


async def test_sigterm_drains_in_flight_callbacks_and_exits_cleanly(
    served: ServedReelhook, piapi_sim: Any
) -> None:
    await served.start()
    tasks = await _tasks_with_secrets(served, piapi_sim, 4)
    by_id = {task["id"]: task for task in tasks}
    acknowledged: list[tuple[str, bytes]] = []
    firing = asyncio.create_task(_fire(served, tasks, 40, acknowledged))
    await _until(acknowledged, 20)
    assert await served.signal(signal.SIGTERM) == 0
    await firing
    recorded = _recorded_keys(served.env["REELHOOK_DATABASE"])
    assert all((tid, _key(by_id[tid], body)) in recorded for tid, body in acknowledged)
    assert "Traceback" not in served.stderr, served.stderr[-4000:]
    assert "HTTP Request:" not in served.stderr  # httpx would print full (user) URLs
