"""Read-only tokens (REELHOOK_READ_TOKENS): they read tasks, events, deliveries and costs and
sign in to a dashboard that shows but never changes; the full token still does everything."""

from __future__ import annotations

from typing import Any

from tests.dashboard.test_dashboard import form_token, sign_in
from tests.helpers import API_TOKEN, skyreels, wait_for_status

READER = "reader-token-0123456789abcdef"


def as_reader() -> dict[str, str]:
    return {"Authorization": f"Bearer {READER}"}


async def test_a_read_token_reads_everything_and_changes_nothing(start_app: Any) -> None:
    client = await start_app(read_tokens=(READER,))
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    await wait_for_status(client, task["id"])
    for path in (f"/v1/tasks/{task['id']}", "/v1/tasks", f"/v1/tasks/{task['id']}/events",
                 f"/v1/tasks/{task['id']}/deliveries", "/v1/deliveries", "/v1/costs",
                 "/v1/inbound"):
        answer = await client.get(path, headers=as_reader())
        assert answer.status == 200, path
    refused = await client.post("/v1/tasks", json=skyreels(), headers=as_reader())
    assert refused.status == 403
    error = (await refused.json())["error"]
    assert error["code"] == "forbidden" and "REELHOOK_READ_TOKENS" in error["message"]
    assert READER not in error["message"]
    cancel = await client.post(f"/v1/tasks/{task['id']}/cancel", headers=as_reader())
    assert cancel.status == 403
    assert len((await (await client.get("/v1/tasks")).json())["tasks"]) == 1  # nothing added
    wrong = await client.get("/v1/tasks", headers={"Authorization": "Bearer not-a-token-at-all"})
    assert wrong.status == 401


async def test_a_read_only_dashboard_hides_and_refuses_changes(
    start_app: Any, trusted_peers: set[tuple[str, int]]
) -> None:
    trusted_peers.add(("127.0.0.1", 9))  # a receiver of the operator's, down
    client = await start_app(read_tokens=(READER,))
    notify = [{"channel": "webhook", "url": "http://127.0.0.1:9/gone", "secret": "whsec_"
               "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]
    task = await (await client.post("/v1/tasks", json=skyreels(
        prompt="[hang] a slow one", notify=notify))).json()
    signed = await sign_in(client, READER)
    assert signed.status == 200
    page = await (await client.get(f"/dashboard/tasks/{task['id']}")).text()
    assert "read-only" in page and "Cancel task" not in page
    csrf = await form_token(client, "/dashboard/tasks")
    refused = await client.post(f"/dashboard/tasks/{task['id']}/cancel", data={"csrf": csrf})
    assert refused.status == 403 and "read-only" in await refused.text()
    assert (await (await client.get(f"/v1/tasks/{task['id']}")).json())["status"] != "cancelled"
    logout = await client.post("/dashboard/logout", data={"csrf": csrf}, allow_redirects=False)
    assert logout.status == 303
    full = await sign_in(client, API_TOKEN)
    assert full.status == 200
    page = await (await client.get(f"/dashboard/tasks/{task['id']}")).text()
    assert "Cancel task" in page and "read-only" not in page
