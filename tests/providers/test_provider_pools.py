"""Each provider has connections of its own: long 1min.ai generations (minutes each, one
connection each) cannot starve PiAPI. With the address guard on, as in production, and the
providers on loopback trusted as configured."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from receiver.providers import DEFAULT_MAX_IN_FLIGHT
from tests.helpers import onemin, skyreels, until

LONG_CALLS = 12


async def test_long_calls_to_one_provider_leave_another_its_connections(
    start_app: Any, onemin_sim: Any, piapi_sim: Any
) -> None:
    onemin_sim.script.hang = True  # 1min.ai answers its generation call after minutes
    client = await start_app(
        allow_private_urls=False, provider_connections=LONG_CALLS,
        max_in_flight={**DEFAULT_MAX_IN_FLIGHT, "onemin": LONG_CALLS + 5},
    )
    for _ in range(LONG_CALLS):
        answer = await client.post("/v1/tasks", json=onemin())
        assert answer.status in (200, 201, 202), await answer.text()
    await until(lambda: onemin_sim.in_flight == LONG_CALLS, what="every 1min.ai call open")
    before = len(piapi_sim.received)
    answer = await asyncio.wait_for(client.post("/v1/tasks", json=skyreels()), timeout=10)
    assert answer.status in (200, 201, 202), await answer.text()
    task = await answer.json()
    assert len(piapi_sim.received) == before + 1
    assert task["provider_task_id"]


async def test_a_call_that_finds_every_connection_busy_is_held_not_failed(
    start_app: Any, onemin_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reelhook")
    onemin_sim.script.hang = True
    client = await start_app(
        allow_private_urls=False, provider_connections=1, provider_timeout=1.0,
        max_in_flight={**DEFAULT_MAX_IN_FLIGHT, "onemin": 5},
    )
    await client.post("/v1/tasks", json=onemin())
    await until(lambda: onemin_sim.in_flight == 1, what="the first call open")
    second = await (await client.post("/v1/tasks", json=onemin())).json()

    def held() -> bool:
        return any("every connection to" in r.getMessage() and second["id"] in r.getMessage()
                   for r in caplog.records)

    await until(held, timeout=10, what="the second task held for a free connection")
    task = await (await client.get(f"/v1/tasks/{second['id']}")).json()
    assert (task["status"], task["provider_task_id"]) == ("queued", None)
    assert onemin_sim.in_flight == 1  # the second call was never sent
