"""A task's events come in pages (limit, cursor) on both databases, and the dashboard's task page
shows the newest ones only, saying where the rest are: a task with a hundred thousand events no
longer makes a 100 MB answer."""

from __future__ import annotations

from typing import Any

from receiver import keys
from receiver.dashboard import pages
from store import EventIn, NewTask, Observation, TaskStore
from tests.dashboard.test_dashboard import sign_in

TASK = "tsk_" + "7" * 28


async def with_events(store: TaskStore, count: int) -> list[int]:
    """TASK with `count` progress events; their progress values, in order."""
    await store.create_task(NewTask(TASK, "piapi", "Qubico/skyreels", {}))
    for step in range(count):
        event = EventIn(f"progress-{step}", "callback", Observation("running", progress=step % 100))
        await store.record_event(TASK, event)
    return [step % 100 for step in range(count)]


async def test_events_come_in_pages_oldest_first(start_app: Any, database: str) -> None:
    client = await start_app(database=database)
    await with_events(client.app[keys.STORE], 7)
    whole = await (await client.get(f"/v1/tasks/{TASK}/events")).json()
    assert whole["next_cursor"] is None and len(whole["events"]) == 7
    seen, cursor = [], ""
    while True:
        page = await (await client.get(f"/v1/tasks/{TASK}/events?limit=3{cursor}")).json()
        seen += page["events"]
        if page["next_cursor"] is None:
            break
        assert len(page["events"]) == 3
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == whole["events"]
    for query, status, field in [("limit=0", 422, "limit"), ("limit=1001", 422, "limit"),
                                 ("cursor=abc", 422, "cursor"), ("after=3", 400, "after")]:
        answer = await client.get(f"/v1/tasks/{TASK}/events?{query}")
        assert answer.status == status
        assert (await answer.json())["error"]["field"] == field


async def test_the_task_page_shows_the_newest_events_and_says_where_the_rest_are(
    start_app: Any,
) -> None:
    client = await start_app()
    progress = await with_events(client.app[keys.STORE], pages.TIMELINE_EVENTS + 5)
    await sign_in(client)
    html = await (await client.get(f"/dashboard/tasks/{TASK}")).text()
    assert f"The last {pages.TIMELINE_EVENTS} events; earlier ones:" in html
    assert html.count('<div class="when">') == pages.TIMELINE_EVENTS
    assert f"{progress[-1]}%" in html
