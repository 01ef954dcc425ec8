"""The generic Standard Webhooks route: rotation, timestamp tolerance, dedupe, malformed headers."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from receiver import keys


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


OLD = "whsec_" + base64.b64encode(os.urandom(24)).decode()
NEW = "whsec_" + base64.b64encode(os.urandom(24)).decode()
STRANGER = "whsec_" + base64.b64encode(os.urandom(24)).decode()


@pytest.fixture
async def inbound_client(start_app: Any) -> Any:
    return await start_app(inbound_secrets={"render": (OLD, NEW)})


def signed(secret: str, body: str, msg_id: str = "msg_1", skew: float = 0.0) -> dict[str, str]:
    moment = datetime.now(tz=UTC) + timedelta(seconds=skew)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, body),
        "content-type": "application/json",
    }


async def messages(client: Any) -> list[dict[str, Any]]:
    return await client.app[keys.STORE].inbound.messages("render")


@pytest.mark.parametrize("secret", [OLD, NEW])
async def test_old_and_new_secret_both_verify(inbound_client: Any, secret: str) -> None:
    body = json.dumps({"event": "render.done", "id": 7})
    response = await inbound_client.post("/callbacks/standard/render", data=body,
                                         headers=signed(secret, body))
    assert response.status == 200
    assert (await response.json()) == {"ok": True, "duplicate": False}
    assert [json.loads(m["payload"]) for m in await messages(inbound_client)] == [
        {"event": "render.done", "id": 7}]


async def test_same_webhook_id_is_recorded_once(inbound_client: Any) -> None:
    body = json.dumps({"n": 1})
    for _ in range(3):
        response = await inbound_client.post("/callbacks/standard/render", data=body,
                                             headers=signed(NEW, body, "msg_dup"))
        assert response.status == 200
    assert len(await messages(inbound_client)) == 1


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        (lambda body: signed(STRANGER, body), "webhook-signature"),
        (lambda body: signed(NEW, body, skew=-305), "webhook-timestamp"),
        # Five seconds past the 5-minute tolerance: the header holds whole seconds, and the
        # server reads it a moment after it was made.
        (lambda body: signed(NEW, body, skew=305), "webhook-timestamp"),
        (lambda body: {**signed(NEW, body), "webhook-timestamp": "soon"}, "webhook-timestamp"),
        (lambda body: {**signed(NEW, body), "webhook-signature": "garbage"}, "webhook-signature"),
        (lambda body: {**signed(NEW, body), "webhook-signature": "v1,@@@"}, "webhook-signature"),
        (lambda body: {k: v for k, v in signed(NEW, body).items() if k != "webhook-id"},
         "webhook-id"),
    ],
)
async def test_bad_signatures_are_401_name_the_header_and_record_nothing(
    inbound_client: Any, headers: Any, field: str
) -> None:
    body = json.dumps({"n": 2})
    response = await inbound_client.post("/callbacks/standard/render", data=body,
                                         headers=headers(body))
    assert response.status == 401
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("unauthorized", field)
    assert field in error["message"] or "secret" in error["message"]
    assert await messages(inbound_client) == []


async def test_timestamps_within_five_minutes_pass(inbound_client: Any) -> None:
    for skew, msg_id in ((-290, "past"), (290, "future")):
        body = json.dumps({"skew": skew})
        response = await inbound_client.post("/callbacks/standard/render", data=body,
                                             headers=signed(NEW, body, msg_id, skew))
        assert response.status == 200


async def test_unknown_source_is_404(inbound_client: Any) -> None:
    body = "{}"
    response = await inbound_client.post("/callbacks/standard/other", data=body,
                                         headers=signed(NEW, body))
    assert response.status == 404


async def test_a_message_that_says_it_is_not_json_is_415(inbound_client: Any) -> None:
    body = json.dumps({"event": "render.done", "id": 8})
    headers = signed(OLD, body) | {"content-type": "text/plain"}
    response = await inbound_client.post("/callbacks/standard/render", data=body, headers=headers)
    assert response.status == 415
    assert await messages(inbound_client) == []
    cloud_event = signed(OLD, body) | {"content-type": "application/cloudevents+json"}
    answer = await inbound_client.post("/callbacks/standard/render", data=body,
                                       headers=cloud_event)
    assert answer.status == 200


async def test_urls_in_a_recorded_message_are_shown_without_their_query(
    inbound_client: Any,
) -> None:
    body = json.dumps({"event": "render.done", "url": "https://cdn.example/v.mp4?sig=SECRET9"})
    sent = await inbound_client.post("/callbacks/standard/render", data=body,
                                     headers=signed(OLD, body))
    assert sent.status == 200
    listed = await inbound_client.get("/v1/inbound?source=render")
    [message] = (await listed.json())["messages"]
    assert message["payload"]["url"] == "https://cdn.example/v.mp4?…"
    assert "SECRET9" not in await listed.text()


async def test_a_message_is_capped_small_and_its_headers_checked_before_it_is_read(
    start_app: Any,
) -> None:
    """Its signature covers the whole body, so the body is read before it can be checked: the
    cap stays small (REELHOOK_MAX_INBOUND_BYTES) whatever the provider callbacks' limit, and a
    message without its headers is refused before any of it is read."""
    client = await start_app(inbound_secrets={"render": (OLD,)}, max_inbound_bytes=4096)
    assert client.app[keys.SETTINGS].max_callback_bytes > 4096
    big = json.dumps({"event": "render.done", "pad": "x" * 8000})
    too_large = await client.post("/callbacks/standard/render", data=big,
                                  headers=signed(OLD, big))
    assert too_large.status == 413
    unsigned = await client.post("/callbacks/standard/render", data=big,
                                 headers={"content-type": "application/json"})
    assert unsigned.status == 401  # the missing headers, not the size: nothing was read
    assert (await unsigned.json())["error"]["field"] == "webhook-id"
    small = json.dumps({"event": "render.done"})
    fine = await client.post("/callbacks/standard/render", data=small, headers=signed(OLD, small))
    assert fine.status == 200
