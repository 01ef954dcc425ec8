"""/v1/destinations: named destinations registered once, notified of every task their filters
match; paused, resumed, deleted and test-sent by hand; the settings' Slack and email among them."""

from __future__ import annotations

from typing import Any

import pytest

from receiver.sandbox.sinks import Answer
from tests.helpers import FAST_RETRIES, WEBHOOK_SECRET, skyreels, wait_delivered, wait_for_status

READER = "read-only-token-for-destinations"


def hook(url: str, **fields: Any) -> dict[str, Any]:
    return {"name": "ops hook", "channel": "webhook", "url": url, **fields}


async def registered(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/destinations", json=body)
    assert response.status == 201, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def finished(client: Any, **fields: Any) -> dict[str, Any]:
    task = await (await client.post("/v1/tasks", json=skyreels(**fields))).json()
    return await wait_for_status(client, task["id"])


async def test_a_destination_is_registered_listed_changed_and_deleted(
    start_app: Any, database: str, webhook_sink: Any
) -> None:
    client = await start_app(database=database, read_tokens=(READER,))
    made = await registered(client, hook(webhook_sink.url))
    assert made["secret"].startswith("whsec_") and made["name"] == "ops hook"
    assert made["on"] == ["failed", "succeeded"] and made["paused"] is False
    assert "privateQueryKey77" not in str(made)  # the address is shown redacted
    one = await (await client.get(f"/v1/destinations/{made['id']}")).json()
    assert "secret" not in one and one["label"] == made["label"]
    listed = await (await client.get("/v1/destinations")).json()
    assert [d["name"] for d in listed["destinations"]] == ["ops hook"]
    changed = await client.patch(f"/v1/destinations/{made['id']}", json={
        "name": "renamed", "on": ["failed"], "provider": "wave", "metadata": {"user": "42"},
    })
    assert changed.status == 200
    body = await changed.json()
    assert (body["name"], body["on"], body["provider"], body["metadata"]) == (
        "renamed", ["failed"], "wave", {"user": "42"})
    again = await client.post("/v1/destinations", json=hook(webhook_sink.url, name="renamed"))
    assert again.status == 409 and (await again.json())["error"]["field"] == "name"
    reader = {"Authorization": f"Bearer {READER}"}
    assert (await client.get("/v1/destinations", headers=reader)).status == 200
    refused = await client.delete(f"/v1/destinations/{made['id']}", headers=reader)
    assert refused.status == 403
    assert (await client.delete(f"/v1/destinations/{made['id']}")).status == 204
    assert (await client.get(f"/v1/destinations/{made['id']}")).status == 404
    assert (await client.delete(f"/v1/destinations/{made['id']}")).status == 404
    for made_up in ("ops-hook", "0", "-1", "9" * 30):  # ids no destination has
        refused = await client.get(f"/v1/destinations/{made_up}")
        assert refused.status == 404 and (await refused.json())["error"]["field"] == "id"
    assert (await client.get("/v1/destinations?nme=x")).status == 400


@pytest.mark.parametrize(("body", "field"), [
    ({"channel": "webhook", "url": "https://example.com/h"}, "name"),
    ({"name": "", "channel": "webhook", "url": "https://example.com/h"}, "name"),
    ({"name": "x" * 101, "channel": "webhook", "url": "https://example.com/h"}, "name"),
    ({"name": "settings-slack", "channel": "webhook", "url": "https://example.com/h"}, "name"),
    ({"name": "a", "channel": "pager", "url": "https://example.com/h"}, "channel"),
    ({"name": "a", "channel": "webhook"}, "url"),
    ({"name": "a", "channel": "webhook", "url": "ftp://example.com/h"}, "url"),
    ({"name": "a", "channel": "webhook", "url": "https://e.com/h", "secret": "plain"}, "secret"),
    ({"name": "a", "channel": "slack", "url": "https://hooks.slack.com/x", "to": "a@b.co"}, "to"),
    ({"name": "a", "channel": "email", "to": "a@example.com"}, "to"),  # no SMTP server set
    ({"name": "a", "channel": "webhook", "url": "https://e.com/h", "on": []}, "on"),
    ({"name": "a", "channel": "webhook", "url": "https://e.com/h", "on": ["done"]}, "on"),
    ({"name": "a", "channel": "webhook", "url": "https://e.com/h", "provider": "sora"},
     "provider"),
    ({"name": "a", "channel": "webhook", "url": "https://e.com/h", "metadata": {"u": [1]}},
     "metadata"),
    ({"name": "a", "channel": "webhook", "url": "https://e.com/h", "metadata": {"u": None}},
     "metadata"),
    ({"name": "a", "channel": "webhook", "url": "https://e.com/h", "metadata": ["u"]},
     "metadata"),
    ({"name": "a", "channel": "webhook", "url": "https://e.com/h", "paused": "yes"}, "paused"),
    ({"name": "a", "channel": "webhook", "url": "https://e.com/h", "colour": "red"}, "colour"),
])
async def test_bad_destinations_are_refused_naming_the_field(
    client: Any, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/destinations", json=body)
    assert response.status == 422
    assert (await response.json())["error"]["field"] == field
    assert (await (await client.get("/v1/destinations")).json())["destinations"] == []


async def test_a_private_address_is_refused_in_production(start_app: Any) -> None:
    client = await start_app(allow_private_urls=False)
    response = await client.post("/v1/destinations", json=hook("http://127.0.0.1:9/h"))
    assert response.status == 422 and (await response.json())["error"]["field"] == "url"


async def test_every_matching_task_is_signed_with_the_destinations_secret(
    start_app: Any, database: str, webhook_sink: Any
) -> None:
    client = await start_app(database=database, **FAST_RETRIES)
    made = await registered(client, hook(webhook_sink.url, metadata={"user": "42"}))
    webhook_sink.secret = made["secret"]  # the secret shown once is the signing key
    ours = await finished(client, metadata={"user": "42"})
    theirs = await finished(client, metadata={"user": "7"})
    [delivery] = await wait_delivered(client, ours["id"])
    assert delivery["destination"]["name"] == "ops hook" and delivery["status"] == "delivered"
    [received] = webhook_sink.accepted
    assert received.verified is True and received.body["data"]["id"] == ours["id"]
    assert (await (await client.get(f"/v1/tasks/{theirs['id']}/deliveries")).json()) == {
        "deliveries": []}


async def test_a_metadata_filter_takes_numbers_and_booleans_as_the_search_reads_them(
    start_app: Any, webhook_sink: Any
) -> None:
    client = await start_app(**FAST_RETRIES)
    made = await registered(client, hook(webhook_sink.url, metadata={"user": 42, "vip": True}))
    assert made["metadata"] == {"user": 42, "vip": True}
    webhook_sink.secret = made["secret"]
    number = await finished(client, metadata={"user": 42, "vip": True})
    text = await finished(client, metadata={"user": "42", "vip": "true"})  # as metadata.user=42
    other = await finished(client, metadata={"user": 42, "vip": False})
    for task in (number, text):
        [delivery] = await wait_delivered(client, task["id"])
        assert delivery["status"] == "delivered"
    assert {received.body["data"]["id"] for received in webhook_sink.accepted} == {
        number["id"], text["id"]}
    assert (await (await client.get(f"/v1/tasks/{other['id']}/deliveries")).json()) == {
        "deliveries": []}


async def test_a_paused_destination_is_skipped_until_resumed(
    start_app: Any, webhook_sink: Any
) -> None:
    client = await start_app(**FAST_RETRIES)
    made = await registered(client, hook(webhook_sink.url, secret=WEBHOOK_SECRET))
    paused = await client.post(f"/v1/destinations/{made['id']}/pause")
    assert (await paused.json())["paused"] is True
    skipped = await finished(client)
    assert (await (await client.get(f"/v1/tasks/{skipped['id']}/deliveries")).json()) == {
        "deliveries": []}
    resumed = await client.post(f"/v1/destinations/{made['id']}/resume")
    assert (await resumed.json())["paused"] is False
    sent = await finished(client)
    await wait_delivered(client, sent["id"])
    assert [r.body["data"]["id"] for r in webhook_sink.accepted] == [sent["id"]]


async def test_a_test_notice_says_what_became_of_it(start_app: Any, webhook_sink: Any) -> None:
    client = await start_app()
    made = await registered(client, hook(webhook_sink.url, secret=WEBHOOK_SECRET))
    sent = await (await client.post(f"/v1/destinations/{made['id']}/test")).json()
    assert sent["delivered"] is True and sent["status_code"] == 200 and sent["error"] is None
    [received] = webhook_sink.accepted
    assert received.verified is True and received.body["type"] == "task.test"
    webhook_sink.script = [Answer(500, "down")]
    failed = await (await client.post(f"/v1/destinations/{made['id']}/test")).json()
    assert failed["delivered"] is False and failed["status_code"] == 500
    assert "500" in failed["error"]
    assert (await client.post("/v1/destinations/999/test")).status == 404
    webhook_sink.script = [Answer(410, "gone")]  # the endpoint says it is gone for good
    gone = await (await client.post(f"/v1/destinations/{made['id']}/test")).json()
    assert gone["delivered"] is False and gone["status_code"] == 410
    now = await (await client.get(f"/v1/destinations/{made['id']}")).json()
    assert "410" in now["disabled_reason"] and now["disabled_at"]


async def test_the_settings_slack_is_a_destination_paused_by_name(
    start_app: Any, slack_sink: Any
) -> None:
    client = await start_app(slack_webhook_url=slack_sink.url, **FAST_RETRIES)
    [slack] = (await (await client.get("/v1/destinations")).json())["destinations"]
    assert (slack["name"], slack["channel"], slack["managed_by"]) == (
        "settings-slack", "slack", "settings")
    renamed = await client.patch(f"/v1/destinations/{slack['id']}", json={"name": "x"})
    assert renamed.status == 409 and "REELHOOK_SLACK_WEBHOOK_URL" in await renamed.text()
    kept = await client.delete(f"/v1/destinations/{slack['id']}")
    assert kept.status == 409 and (await kept.json())["error"]["field"] == "id"
    pause = await client.patch(f"/v1/destinations/{slack['id']}", json={"paused": True})
    assert pause.status == 200
    skipped = await finished(client)
    await client.post(f"/v1/destinations/{slack['id']}/resume")
    sent = await finished(client)
    [delivery] = await wait_delivered(client, sent["id"])
    assert delivery["destination"]["name"] == "settings-slack"
    assert len(slack_sink.accepted) == 1
    assert (await (await client.get(f"/v1/tasks/{skipped['id']}/deliveries")).json()) == {
        "deliveries": []}


@pytest.mark.parametrize("by", ["resume", "patch"])
async def test_a_gone_destination_is_disabled_with_the_reason_and_resumed_by_hand(
    start_app: Any, slack_sink: Any, by: str
) -> None:
    slack_sink.script = [Answer(410, "channel_is_archived")]
    client = await start_app(**FAST_RETRIES)
    made = await registered(client, {"name": "team", "channel": "slack", "url": slack_sink.url})
    first = await finished(client)
    await wait_delivered(client, first["id"])
    disabled = await (await client.get(f"/v1/destinations/{made['id']}")).json()
    assert "channel_is_archived" in disabled["disabled_reason"] and disabled["disabled_at"]
    later = await finished(client)
    assert (await (await client.get(f"/v1/tasks/{later['id']}/deliveries")).json()) == {
        "deliveries": []}
    path = f"/v1/destinations/{made['id']}"
    answer = (await client.post(f"{path}/resume") if by == "resume"
              else await client.patch(path, json={"paused": False}))
    resumed = await answer.json()
    assert resumed["disabled_reason"] is None and resumed["paused"] is False
    sent = await finished(client)
    await wait_delivered(client, sent["id"])
    assert len(slack_sink.accepted) == 1


async def test_a_notice_being_retried_ends_when_its_destination_is_paused(
    start_app: Any, webhook_sink: Any
) -> None:
    webhook_sink.script = [Answer(503, "busy")]
    client = await start_app(**{**FAST_RETRIES, "retry_schedule": (1.0, 1.0)})
    made = await registered(client, hook(webhook_sink.url, secret=WEBHOOK_SECRET))
    task = await finished(client)
    await webhook_sink.wait_until(lambda: len(webhook_sink.received) == 1)
    await client.post(f"/v1/destinations/{made['id']}/pause")
    [delivery] = await wait_delivered(client, task["id"])
    assert delivery["status"] == "dead" and delivery["last_error"] == "destination paused"
    assert len(webhook_sink.received) == 1  # its retry never went out
    refused = await client.post(f"/v1/deliveries/{delivery['id']}/redeliver")
    assert refused.status == 409
    assert "is paused; resume it, then redeliver" in (await refused.json())["error"]["message"]
    await client.post(f"/v1/destinations/{made['id']}/resume")
    assert (await client.post(f"/v1/deliveries/{delivery['id']}/redeliver")).status == 202
    [again] = await wait_delivered(client, task["id"])
    assert again["status"] == "delivered" and len(webhook_sink.accepted) == 1


async def test_a_new_address_is_not_disabled_by_the_old_ones_trouble(
    start_app: Any, slack_sink: Any, webhook_sink: Any
) -> None:
    slack_sink.script = [Answer(410, "channel_is_archived")]
    client = await start_app(**FAST_RETRIES)
    made = await registered(client, {"name": "team", "channel": "slack", "url": slack_sink.url})
    await wait_delivered(client, (await finished(client))["id"])
    assert (await (await client.get(f"/v1/destinations/{made['id']}")).json())["disabled_reason"]
    moved = await client.patch(f"/v1/destinations/{made['id']}",
                               json={"url": slack_sink.url + "/new"})
    body = await moved.json()
    assert body["disabled_reason"] is None and body["disabled_at"] is None
