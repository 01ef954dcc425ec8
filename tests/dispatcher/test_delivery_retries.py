"""Retries follow the receiver's wishes: 5xx and timeouts retry, Retry-After is honoured, other
4xx are final, the last failure leaves a dead delivery that redelivery brings back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from receiver.sandbox.sinks import Answer
from tests.helpers import FAST_RETRIES, refused_port, skyreels, wait_delivered


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


async def _notify_slack(client: Any, url: str, **fields: Any) -> dict[str, Any]:
    body = skyreels(notify=[{"channel": "slack", "url": url}], **fields)
    task: dict[str, Any] = await (await client.post("/v1/tasks", json=body)).json()
    return task


def _outcomes(delivery: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(a["outcome"], a["status_code"]) for a in delivery["attempts"]]


def _moment(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_5xx_and_timeout_are_retried_until_success(start_app: Any, slack_sink: Any) -> None:
    slack_sink.script = [Answer(500, "rollup_error"), Answer(200, "ok", delay=1.0)]
    client = await start_app(**{**FAST_RETRIES, "delivery_timeout": 0.3})
    task = await _notify_slack(client, slack_sink.url)
    [delivery] = await wait_delivered(client, task["id"])
    assert delivery["status"] == "delivered" and delivery["attempt_count"] == 3
    assert _outcomes(delivery) == [("retrying", 500), ("retrying", None), ("delivered", 200)]
    assert "HTTP 500: rollup_error" in delivery["attempts"][0]["error"]
    assert "no answer within 0.3 s" in delivery["attempts"][1]["error"]
    assert len(slack_sink.accepted) == 1


async def test_connection_refused_is_retried(
    start_app: Any, slack_sink: Any, trusted_peers: set[tuple[str, int]]
) -> None:
    with refused_port() as port:
        trusted_peers.add(("127.0.0.1", port))  # the operator's relay, down
        client = await start_app(**{**FAST_RETRIES, "retry_schedule": (0.01,)})
        task = await _notify_slack(client, f"http://127.0.0.1:{port}/services/x")
        [delivery] = await wait_delivered(client, task["id"])
    assert delivery["status"] == "dead"
    assert [a["outcome"] for a in delivery["attempts"]] == ["retrying", "dead"]
    assert all("cannot connect" in a["error"] for a in delivery["attempts"])


async def test_retry_after_overrides_the_schedule(start_app: Any, slack_sink: Any) -> None:
    slack_sink.script = [Answer(429, "rate_limited", retry_after="1")]
    client = await start_app(**{**FAST_RETRIES, "retry_schedule": (0.01, 0.01)})
    task = await _notify_slack(client, slack_sink.url)
    [delivery] = await wait_delivered(client, task["id"])
    assert _outcomes(delivery) == [("retrying", 429), ("delivered", 200)]
    first, second = (_moment(a["started_at"]) for a in delivery["attempts"])
    assert second - first >= 1.0


async def test_other_4xx_is_final(start_app: Any, slack_sink: Any) -> None:
    # (A 400 is Slack refusing a message we built: a plain-text one follows; see test_slack_limits.)
    slack_sink.script = [Answer(403, "action_prohibited")]
    client = await start_app(**FAST_RETRIES)
    task = await _notify_slack(client, slack_sink.url)
    [delivery] = await wait_delivered(client, task["id"])
    assert delivery["status"] == "dead" and _outcomes(delivery) == [("dead", 403)]
    assert delivery["last_error"] == "HTTP 403: action_prohibited"
    assert len(slack_sink.received) == 1


async def test_dead_after_last_attempt_then_redelivered(start_app: Any, slack_sink: Any) -> None:
    slack_sink.script = [Answer(502, "bad gateway")] * 4
    client = await start_app(**FAST_RETRIES)
    task = await _notify_slack(client, slack_sink.url)
    [delivery] = await wait_delivered(client, task["id"])
    assert delivery["status"] == "dead" and delivery["attempt_count"] == 4
    assert [o for o, _ in _outcomes(delivery)] == ["retrying"] * 3 + ["dead"]

    dead = (await (await client.get("/v1/deliveries?status=dead")).json())["deliveries"]
    assert [d["id"] for d in dead] == [delivery["id"]]
    response = await client.post(f"/v1/deliveries/{delivery['id']}/redeliver")
    assert response.status == 202
    assert (await response.json())["status"] == "pending"
    await slack_sink.wait_for(1)
    [again] = await wait_delivered(client, task["id"])
    assert again["id"] == delivery["id"] and again["status"] == "delivered"
    assert _outcomes(again)[-1] == ("delivered", 200) and again["attempt_count"] == 5
    assert (await (await client.get("/v1/deliveries?status=dead")).json())["deliveries"] == []


async def test_redeliver_a_delivered_one_and_refusals(start_app: Any, slack_sink: Any) -> None:
    client = await start_app(**FAST_RETRIES)
    task = await _notify_slack(client, slack_sink.url)
    [delivery] = await wait_delivered(client, task["id"])
    assert (await client.post(f"/v1/deliveries/{delivery['id']}/redeliver")).status == 202
    await slack_sink.wait_for(2)
    assert (await client.post("/v1/deliveries/999999/redeliver")).status == 404
    for made_up in ("abc", "0", "1" * 40):  # no delivery has such an id
        refused = await client.post(f"/v1/deliveries/{made_up}/redeliver")
        assert refused.status == 404
        assert (await refused.json())["error"]["field"] == "id"
    assert (await client.get("/v1/deliveries?status=lost")).status == 422


async def test_slack_410_disables_the_destination(start_app: Any, slack_sink: Any) -> None:
    slack_sink.script = [Answer(410, "channel_is_archived")]
    client = await start_app(**FAST_RETRIES)
    task = await _notify_slack(client, slack_sink.url)
    [delivery] = await wait_delivered(client, task["id"])
    assert delivery["status"] == "dead" and _outcomes(delivery) == [("gone", 410)]
    reason = delivery["destination"]["disabled_reason"]
    assert "channel_is_archived" in reason and "disabled" in reason

    later = await _notify_slack(client, slack_sink.url)
    [refused] = await wait_delivered(client, later["id"])
    assert refused["status"] == "dead" and refused["attempts"] == []
    assert len(slack_sink.received) == 1


async def test_retries_keep_their_schedule_between_the_workers_looks(
    start_app: Any, slack_sink: Any
) -> None:
    """A retry sooner than the worker's next look (REELHOOK_DISPATCH_INTERVAL, 60 s here) is
    sent when it falls due: the worker learns of it once its attempt is recorded."""
    slack_sink.script = [Answer(502, "bad gateway")] * 3
    client = await start_app(**{**FAST_RETRIES, "dispatch_interval": 60.0})
    task = await _notify_slack(client, slack_sink.url)
    [delivery] = await wait_delivered(client, task["id"], timeout=20)
    assert [o for o, _ in _outcomes(delivery)] == ["retrying"] * 3 + ["delivered"]
