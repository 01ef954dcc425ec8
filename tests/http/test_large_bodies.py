"""Large request bodies: one of a million small values is refused before it is decoded (it took
the event loop for seconds to build and collect), and a large image body, worked on in the
large-input threads, is recorded and sent whole. How long the loop is held is measured by
`python -m bench.large_bodies`, not here."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from receiver.http.body import MAX_JSON_VALUES, OFF_LOOP_BYTES
from receiver.sandbox.providers.onemin import PNG
from tests.helpers import onemin, wait_sent


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


BASE = {"provider": "onemin", "model": "Qubico/skyreels", "prompt": "FPS-24, a woman smiles"}


async def test_a_body_of_a_million_values_is_refused_before_it_is_decoded(client: Any) -> None:
    body = json.dumps({**BASE, "image": "https://images.example/a.png",
                       "extra": [{"x": n} for n in range(1_000_000)]})
    answer = await client.post("/v1/tasks", data=io.BytesIO(body.encode()),
                               headers={"Content-Type": "application/json"})
    assert answer.status == 400
    error = (await answer.json())["error"]
    assert error["field"] == "body"
    assert f"more than {MAX_JSON_VALUES} JSON values" in error["message"]
    listed = await (await client.get("/v1/tasks")).json()
    assert listed["tasks"] == []  # nothing recorded


async def test_a_large_image_body_is_worked_on_off_the_loop_and_sent_whole(
    client: Any, onemin_sim: Any
) -> None:
    image = PNG + b"\0" * 8_000_000
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    body = json.dumps(onemin(image=uri))
    assert len(body) > OFF_LOOP_BYTES
    answer = await client.post("/v1/tasks", data=io.BytesIO(body.encode()),
                               headers={"Content-Type": "application/json"})
    assert answer.status == 202, await answer.text()
    task = await answer.json()
    await wait_sent(client, task["id"], timeout=30)
    assert image in onemin_sim.assets.values()  # the very bytes reached the provider
