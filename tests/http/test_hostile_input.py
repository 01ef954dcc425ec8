"""Odd JSON and odd strings on every entry point: clear 4xx answers, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import post_callback, skyreels, wave


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


RAW_BODIES = [
    (b'{"provider": "piapi", "model": "Qubico/skyreels", "guidance_scale": NaN}', 400),
    (b'{"provider": "piapi", "model": "Qubico/skyreels", "guidance_scale": Infinity}', 400),
    (b'{"provider": "piapi", "model": "Qubico/skyreels", "guidance_scale": 1e400}', 400),
    (b'{"provider": ["piapi"], "model": "Qubico/skyreels"}', 422),
    (b'{"provider": {"a": 1}, "model": "Qubico/skyreels"}', 422),
    (b'{"provider": "piapi", "model": ["Qubico/skyreels"]}', 422),
    (b'{"provider": "piapi", "model": "Qubico/framepack", "duration": 1' + b"0" * 400 + b"}", 422),
    (b'{"provider": "piapi", "model": "Qubico/skyreels", "notify": [{"channel": {}}]}', 422),
    (b'{"provider": "piapi", "model": "Qubico/skyreels", "notify": [{"channel": []}]}', 422),
    (b'{"provider": "piapi", "model": "Qubico/skyreels", "notify": {"channel": "slack"}}', 422),
    (b'"just a string"', 422),
    (b"null", 422),
    (b"[" * 100_000 + b"]" * 100_000, 400),
]


@pytest.mark.parametrize(("raw", "status"), RAW_BODIES)
async def test_odd_submissions_get_a_clear_error(
    client: Any, piapi_sim: Any, raw: bytes, status: int
) -> None:
    response = await client.post(
        "/v1/tasks", data=raw, headers={"content-type": "application/json"}
    )
    assert response.status == status
    error = (await response.json())["error"]
    assert error["message"] and error["code"]
    assert piapi_sim.received == []


async def test_non_finite_numbers_in_a_callback_are_400(client: Any, piapi_sim: Any) -> None:
    piapi_sim.script.drop_callbacks = True
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    secret = piapi_sim.received[-1]["body"]["config"]["webhook_config"]["secret"]
    provider_id = task["provider_task_id"]
    data = f'{{"task_id": "{provider_id}", "status": "processing", "progress": Infinity}}'
    body = f'{{"timestamp": 1, "data": {data}}}'.encode()
    response = await post_callback(client, f"/callbacks/piapi/{task['id']}", body, secret)
    assert response.status == 400
    assert "malformed callback" in (await response.json())["error"]["message"]


@pytest.mark.parametrize("token", ["abc.%C3%A9", "%FF%FE.x", "a" * 300])
async def test_odd_tokens_in_a_callback_path_are_401(
    client: Any, wave_sim: Any, token: str
) -> None:
    task = await (await client.post("/v1/tasks", json=wave())).json()
    response = await client.post(f"/callbacks/wave/{task['id']}/{token}", data=b"{}")
    assert response.status == 401
    unknown = await client.post(f"/callbacks/wave/tsk_x/{token}", data=b"{}")
    assert unknown.status == 404  # no such task, whatever the token


@pytest.mark.parametrize("query", ["limit=%C2%B2", "limit=-1", "limit=1e3", "status=%00"])
async def test_odd_query_values_are_422(client: Any, query: str) -> None:
    response = await client.get(f"/v1/tasks?{query}")
    assert response.status == 422


async def test_odd_delivery_ids_are_404_not_a_crash(client: Any) -> None:
    """'²' is a digit to str.isdigit() but not to int(): no delivery has such an id."""
    response = await client.post("/v1/deliveries/%C2%B2/redeliver")
    assert response.status == 404
    assert (await response.json())["error"]["field"] == "id"
