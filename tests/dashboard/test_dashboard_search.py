"""The dashboard's search box: prompt words and `key=value` metadata, as the API searches."""

from __future__ import annotations

from typing import Any

from tests.dashboard.test_dashboard import sign_in
from tests.helpers import skyreels


async def test_the_search_box_finds_tasks_by_metadata_and_prompt_words(client: Any) -> None:
    made = {}
    for name, prompt, user in (("a", "a lighthouse at dawn", "u-1"),
                               ("b", "a forest at night", "u-2")):
        body = skyreels(prompt=f"FPS-24, {prompt}", metadata={"user": user})
        made[name] = (await (await client.post("/v1/tasks", json=body)).json())["id"]
    await sign_in(client)

    async def listed(q: str) -> set[str]:
        page = await (await client.get("/dashboard/tasks", params={"q": q})).text()
        return {task_id for task_id in made.values() if f'data-task-id="{task_id}"' in page}

    assert await listed("user=u-1") == {made["a"]}
    assert await listed("FOREST") == {made["b"]}
    assert await listed("user=u-2 lighthouse") == set()
    assert await listed("user=u-1 user=u-2") == set()  # every key=value word must hold
    assert await listed("") == set(made.values())
    page = await (await client.get("/dashboard/tasks", params={"q": "user=u-1"})).text()
    assert 'value="user=u-1"' in page and 'data-live-insert="0"' in page
    too_long = await client.get("/dashboard/tasks", params={"q": "x" * 300})
    assert too_long.status == 422
