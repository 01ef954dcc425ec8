"""Finding tasks: by metadata (an app's own user id), by prompt text and by creation time, on
both databases; a misspelled query parameter is refused, on every listing, never ignored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import skyreels


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


async def ids(client: Any, query: str) -> list[str]:
    answer = await client.get(f"/v1/tasks?{query}")
    assert answer.status == 200, await answer.text()
    return [task["id"] for task in (await answer.json())["tasks"]]


async def submit(client: Any, prompt: str, metadata: dict[str, Any]) -> str:
    body = skyreels(prompt=f"FPS-24, {prompt}", metadata=metadata)
    task = await (await client.post("/v1/tasks", json=body)).json()
    return str(task["id"])


async def test_tasks_are_found_by_metadata_prompt_and_time(client: Any) -> None:
    fox = await submit(client, "a red fox runs", {"user": "u-1", "plan": "pro"})
    car = await submit(client, "A RED car at 100% speed", {"user": "u-2", "n": 7})
    sky = await submit(client, "a blue_sky", {"user": "u-1"})
    assert await ids(client, "metadata.user=u-1") == [sky, fox]
    assert await ids(client, "metadata.user=u-1&metadata.plan=pro") == [fox]
    assert await ids(client, "metadata.n=7") == [car]
    assert await ids(client, "metadata.user=nobody") == []
    assert await ids(client, "q=red") == [car, fox]  # any case
    assert await ids(client, "q=100%25") == [car]  # % and _ are text, not patterns
    assert await ids(client, "q=blue_sky") == [sky]
    assert await ids(client, "q=e%25s") == []  # a literal %, not "any letters"
    assert await ids(client, "q=runs+FOX") == [fox]  # every word, in any order
    assert await ids(client, "q=red+sky") == []
    assert await ids(client, "created_after=2000-01-01") == [sky, car, fox]
    assert await ids(client, "created_after=2999-01-01T00:00:00Z") == []
    assert await ids(client, "created_before=2999-01-01&metadata.user=u-1&limit=1") == [sky]
    first = (await (await client.get(f"/v1/tasks/{fox}")).json())["created_at"]
    assert await ids(client, f"created_before={first}") == []
    assert fox in await ids(client, f"created_after={first}")


@pytest.mark.parametrize(
    ("query", "field"),
    [("created_after=yesterday", "created_after"), ("created_before=2026-13-01", "created_before"),
     ("q=" + "x" * 201, "q"), ("metadata.=1", "metadata.")],
)
async def test_a_bad_search_value_is_422_naming_it(client: Any, query: str, field: str) -> None:
    answer = await client.get(f"/v1/tasks?{query}")
    assert answer.status == 422
    assert (await answer.json())["error"]["field"] == field


@pytest.mark.parametrize(
    ("path", "param"),
    [("/v1/tasks", "stauts"), ("/v1/tasks", "metadata_user"), ("/v1/deliveries", "task"),
     ("/v1/inbound", "sourc"), ("/v1/costs", "provider")],
)
async def test_an_unknown_query_parameter_is_400_naming_it(
    client: Any, path: str, param: str
) -> None:
    answer = await client.get(f"{path}?{param}=x")
    assert answer.status == 400
    error = (await answer.json())["error"]
    assert error["field"] == param and param in error["message"] and "allowed" in error["message"]


@pytest.mark.parametrize("listing", ["events", "deliveries"])
async def test_a_tasks_listings_refuse_an_unknown_query_parameter(
    client: Any, listing: str
) -> None:
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    answer = await client.get(f"/v1/tasks/{task['id']}/{listing}?limt=5")
    assert answer.status == 400
    assert (await answer.json())["error"]["field"] == "limt"
    assert (await client.get(f"/v1/tasks/{task['id']}/{listing}")).status == 200


async def test_the_prompt_is_found_in_any_case_in_every_script(client: Any) -> None:
    """Both databases fold the case of every letter, not only ASCII's (SQLite's LOWER does)."""
    clouds = await submit(client, "Über den Wolken, ÉTÉ à Paris", {})
    await submit(client, "a quiet lake", {})
    for query in ("q=über", "q=ÜBER", "q=été", "q=wolken+über"):
        assert await ids(client, query) == [clouds], query
