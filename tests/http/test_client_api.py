"""The client API's edges: auth, listing and paging, error shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import API_TOKEN, skyreels, wait_for_status


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


async def test_healthz_needs_no_token(client: Any) -> None:
    response = await client.get("/healthz", headers={"Authorization": ""})
    assert response.status == 200
    assert await response.json() == {"ok": True}


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer wrong-token-0123456789", f"Basic {API_TOKEN}"]
)
async def test_v1_needs_the_bearer_token(client: Any, header: str) -> None:
    response = await client.get("/v1/tasks", headers={"Authorization": header})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await response.json()
    assert body["error"]["code"] == "unauthorized"
    assert API_TOKEN not in await response.text()


async def test_submit_without_token_stores_nothing(client: Any, piapi_sim: Any) -> None:
    response = await client.post("/v1/tasks", json=skyreels(), headers={"Authorization": ""})
    assert response.status == 401
    assert piapi_sim.received == []


async def test_list_pages_newest_first_with_cursor(client: Any, piapi_sim: Any) -> None:
    piapi_sim.script.drop_callbacks = True
    ids = [
        (await (await client.post("/v1/tasks", json=skyreels(prompt=f"n{i}"))).json())["id"]
        for i in range(5)
    ]
    first = await (await client.get("/v1/tasks", params={"limit": "2"})).json()
    assert [t["id"] for t in first["tasks"]] == ids[::-1][:2]
    second = await (
        await client.get("/v1/tasks", params={"limit": "2", "cursor": first["next_cursor"]})
    ).json()
    third = await (
        await client.get("/v1/tasks", params={"limit": "2", "cursor": second["next_cursor"]})
    ).json()
    assert [t["id"] for t in second["tasks"]] == ids[::-1][2:4]
    assert [t["id"] for t in third["tasks"]] == ids[:1]
    assert third["next_cursor"] is None


async def test_list_filters_by_status_and_provider(client: Any, piapi_sim: Any) -> None:
    piapi_sim.script.submit_http_status = 500
    failed = await (await client.post("/v1/tasks", json=skyreels())).json()
    piapi_sim.script.submit_http_status = None
    piapi_sim.script.drop_callbacks = True
    queued = await (await client.post("/v1/tasks", json=skyreels())).json()
    only_failed = await (await client.get("/v1/tasks", params={"status": "failed"})).json()
    assert [t["id"] for t in only_failed["tasks"]] == [failed["id"]]
    only_queued = await (
        await client.get("/v1/tasks", params={"status": "queued", "provider": "piapi"})
    ).json()
    assert [t["id"] for t in only_queued["tasks"]] == [queued["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "done"}, "status"),
        ({"provider": "runway"}, "provider"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "zzz"}, "cursor"),
        ({"cursor": "tsk_" + "g" * 28}, "cursor"),
    ],
)
async def test_list_rejects_bad_query(client: Any, query: dict[str, str], field: str) -> None:
    response = await client.get("/v1/tasks", params=query)
    assert response.status == 422
    assert (await response.json())["error"]["field"] == field


@pytest.mark.parametrize(
    ("path", "query", "allowed"),
    [
        ("/v1/tasks", {"status": "done"}, "queued, running, succeeded, failed, cancelled"),
        ("/v1/costs", {"status": "done"}, "queued, running, succeeded, failed, cancelled"),
        ("/v1/deliveries", {"status": "lost"}, "pending, sending, delivered, dead"),
    ],
)
async def test_every_listing_names_the_allowed_values_of_a_bad_choice(
    client: Any, path: str, query: dict[str, str], allowed: str
) -> None:
    response = await client.get(path, params=query)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["field"] == "status"
    assert error["message"] == f"status must be one of {allowed}"


async def test_unknown_task_is_404_everywhere(client: Any) -> None:
    for method, path in (
        ("GET", "/v1/tasks/tsk_missing"),
        ("GET", "/v1/tasks/tsk_missing/events"),
        ("POST", "/v1/tasks/tsk_missing/cancel"),
    ):
        response = await client.request(method, path)
        assert response.status == 404, path
        assert (await response.json())["error"]["code"] == "not_found"


async def test_task_has_the_documented_fields(client: Any) -> None:
    task = await (await client.post("/v1/tasks", json=skyreels(metadata={"order": 7}))).json()
    assert set(task) == {
        "id",
        "provider",
        "model",
        "provider_task_id",
        "status",
        "progress",
        "video_url",
        "error",
        "cost_usd",
        "created_at",
        "updated_at",
        "metadata",
        "video",
    }
    assert task["metadata"] == {"order": 7}
    assert task["created_at"].endswith("Z") and "T" in task["created_at"]


async def test_wrong_content_type_is_415(client: Any) -> None:
    response = await client.post(
        "/v1/tasks", data="prompt=x", headers={"content-type": "text/plain"}
    )
    assert response.status == 415
    assert (await response.json())["error"]["field"] == "Content-Type"


@pytest.mark.parametrize("label", [None, "application/octet-stream"])
async def test_a_body_that_names_no_type_is_read_as_json(
    client: Any, piapi_sim: Any, label: str | None
) -> None:
    """curl and HTTP clients given bytes send no type, or only application/octet-stream."""
    headers = {} if label is None else {"content-type": label}
    skip = ["Content-Type"] if label is None else []
    made = await client.post("/v1/tasks", data=json.dumps(skyreels()).encode(), headers=headers,
                             skip_auto_headers=skip)
    assert made.status == 202, await made.text()
    malformed = await client.post("/v1/tasks", data=b"{bad", headers=headers,
                                  skip_auto_headers=skip)
    assert malformed.status == 400 and (await malformed.json())["error"]["field"] == "body"


async def test_a_route_that_takes_no_body_refuses_one_and_changes_nothing(
    client: Any, piapi_sim: Any
) -> None:
    piapi_sim.script.drop_callbacks = True  # nothing else moves the task meanwhile
    piapi_sim.script.step_delay = 3600.0
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    cancel = f"/v1/tasks/{task['id']}/cancel"
    events = await (await client.get(f"/v1/tasks/{task['id']}/events")).json()
    json_type = {"content-type": "application/json"}
    malformed = await client.post(cancel, data=b"{bad", headers=json_type)
    assert malformed.status == 400 and (await malformed.json())["error"]["field"] == "body"
    unknown = await client.post(cancel, json={"reason": "changed my mind"})
    assert unknown.status == 422 and (await unknown.json())["error"]["field"] == "reason"
    assert (await client.post(cancel, data=b"x", headers={"content-type": "text/plain"})
            ).status == 415
    assert await (await client.get(f"/v1/tasks/{task['id']}/events")).json() == events
    for nothing in ({}, None):  # no body, or an empty object: the route's own answer
        answer = await client.post(cancel, json=nothing)
        assert answer.status == 409, await answer.text()  # PiAPI offers no cancel


async def test_a_number_of_thousands_of_digits_is_400_in_the_bodys_terms(client: Any) -> None:
    raw = b'{"provider": "piapi", "duration": ' + b"9" * 5000 + b"}"
    response = await client.post("/v1/tasks", data=raw,
                                 headers={"content-type": "application/json"})
    assert response.status == 400
    message = (await response.json())["error"]["message"]
    assert "more than 4300 digits" in message and "sys." not in message


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe{}", b"[" * 100 + b"]" * 100])
async def test_malformed_body_is_400(client: Any, raw: bytes) -> None:
    response = await client.post(
        "/v1/tasks", data=raw, headers={"content-type": "application/json"}
    )
    assert response.status == 400
    assert (await response.json())["error"]["field"] == "body"


async def test_body_over_the_limit_is_413(start_app: Any, piapi_sim: Any) -> None:
    client = await start_app(max_submit_bytes=2048)
    body = skyreels(prompt="x" * 4096)
    response = await client.post("/v1/tasks", json=body)
    assert response.status == 413
    assert "2048" in (await response.json())["error"]["message"]
    assert piapi_sim.received == []


async def test_wrong_method_and_unknown_route_answer_json(client: Any) -> None:
    wrong = await client.delete("/v1/tasks")
    assert wrong.status == 405
    assert (await wrong.json())["error"]["code"] == "method_not_allowed"
    missing = await client.get("/v1/nothing-here")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/v1/tasks", {"limit": "9" * 5000}, "limit"),
        ("/v1/deliveries", {"limit": "1" * 5000}, "limit"),
        ("/v1/deliveries", {"cursor": "7" * 5000}, "cursor"),
        ("/v1/inbound", {"cursor": "3" * 5000}, "cursor"),
    ],
)
async def test_numbers_of_thousands_of_digits_are_422_not_500(
    client: Any, path: str, query: dict[str, str], field: str
) -> None:
    response = await client.get(path, params=query)
    assert response.status == 422
    assert (await response.json())["error"]["field"] == field


async def test_redelivering_an_id_of_thousands_of_digits_is_404_at_once(client: Any) -> None:
    """No delivery has such an id: it is refused before int() reads thousands of digits."""
    response = await client.post("/v1/deliveries/" + "5" * 5000 + "/redeliver")
    assert response.status == 404
    error = (await response.json())["error"]
    assert error["field"] == "id" and len(error["message"]) < 200


async def test_every_error_answer_has_code_message_and_field(client: Any) -> None:
    """One shape for every JSON error: `field` is there on each, null when no one field is at
    fault (an unknown route, a wrong method, a finished task's cancel)."""
    done = await (await client.post("/v1/tasks", json=skyreels())).json()
    await wait_for_status(client, done["id"])
    answers = [
        await client.get("/v1/nothing-here"),
        await client.delete("/v1/tasks"),
        await client.post(f"/v1/tasks/{done['id']}/cancel"),
        await client.post("/v1/tasks", json={**skyreels(), "duration": "long"}),
        await client.get("/v1/tasks", headers={"Authorization": "Bearer wrong"}),
    ]
    errors = [(answer.status, (await answer.json())["error"]) for answer in answers]
    assert [status for status, _ in errors] == [404, 405, 409, 422, 401]
    for _, error in errors:
        assert set(error) == {"code", "message", "field"} and error["message"]
    assert [error["field"] for _, error in errors] == [None, None, None, "duration",
                                                       "Authorization"]
