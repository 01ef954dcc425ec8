"""The dashboard over HTTP: sign-in and its cookie, CSRF, security headers, the live stream,
and its forms going through the same services as the API."""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from yarl import URL

from receiver import dashboard
from receiver.dashboard import live
from receiver.dashboard.pages import SHOWN_DELIVERIES, matching
from receiver.providers import DEFAULT_MAX_IN_FLIGHT
from receiver.sandbox.sinks import Answer, WebhookSink
from store import SqliteStore
from store.models import EventIn, NewDestination, NewTask, new_task_id
from store.states import SUCCEEDED, Observation
from tests.helpers import (
    API_TOKEN,
    FAST_RETRIES,
    WEBHOOK_SECRET,
    StartApp,
    skyreels,
    wait_delivered,
    wait_for_status,
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def sign_in(client: Any, token: str = API_TOKEN, follow: bool = True) -> Any:
    page = await client.get("/dashboard/login")
    csrf = CSRF.search(await page.text())
    assert csrf is not None
    form = {"csrf": csrf.group(1), "token": token, "next": "/dashboard/costs"}
    return await client.post("/dashboard/login", allow_redirects=follow, data=form)


async def form_token(client: Any, path: str) -> str:
    found = CSRF.search(await (await client.get(path)).text())
    assert found is not None
    return found.group(1)


async def test_pages_need_a_session_and_sign_in_sets_a_strict_httponly_cookie(
    client: Any,
) -> None:
    away = await client.get("/dashboard/tasks?status=running", allow_redirects=False)
    assert away.status == 303
    location = URL(away.headers["Location"])
    assert location.path == "/dashboard/login"
    assert location.query["next"] == "/dashboard/tasks?status=running"
    refused = await sign_in(client, token="wrong-token-0123456789")
    assert refused.status == 401 and "not one of this server" in await refused.text()
    answer = await sign_in(client, follow=False)
    assert answer.status == 303 and answer.headers["Location"] == "/dashboard/costs"
    cookie = answer.cookies["reelhook_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/dashboard"
    assert API_TOKEN not in cookie.value
    # Nor an unkeyed hash of it, which would let a stolen cookie be used to guess the token.
    assert hashlib.sha256(API_TOKEN.encode()).hexdigest()[:16] not in cookie.value
    forged = cookie.value.rsplit(".", 1)[0] + "." + "0" * 64
    assert (await client.get("/dashboard/tasks", allow_redirects=False,
                             cookies={"reelhook_session": forged})).status == 303
    page = await client.get("/dashboard/tasks")
    assert page.status == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in await page.text()  # only <script src=...>


async def test_sign_in_without_its_csrf_token_and_open_redirects_are_refused(client: Any) -> None:
    await client.get("/dashboard/login")
    answer = await client.post("/dashboard/login", data={"token": API_TOKEN},
                               allow_redirects=False)
    assert answer.status == 403 and "reelhook_session" not in answer.cookies
    page = await client.get("/dashboard/login")
    csrf = CSRF.search(await page.text())
    assert csrf is not None
    answer = await client.post("/dashboard/login", allow_redirects=False, data={
        "csrf": csrf.group(1), "token": API_TOKEN, "next": "//evil.example/dashboard"})
    assert answer.headers["Location"] == "/dashboard/tasks"


async def test_removing_a_token_ends_the_sessions_it_opened(
    start_app: StartApp, settings: Any, aiohttp_server: Any, aiohttp_client: Any
) -> None:
    from receiver.app import create_app

    client = await start_app()
    await sign_in(client)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/dashboard/"))
    other = replace(settings, api_tokens=("another-token-0123456789",))
    server = await aiohttp_server(create_app(other), port=0)
    rotated = await aiohttp_client(server, cookies={"reelhook_session":
                                                    cookie["reelhook_session"].value})
    answer = await rotated.get("/dashboard/tasks", allow_redirects=False)
    assert answer.status == 303  # the same secret key, but the token is gone


async def test_forms_without_csrf_change_nothing_and_logout_ends_the_session(
    start_app: StartApp, piapi_sim: Any
) -> None:
    piapi_sim.script.drop_callbacks = True
    client = await start_app(max_in_flight={**DEFAULT_MAX_IN_FLIGHT, "piapi": 1})
    await client.post("/v1/tasks", json=skyreels())
    held = await (await client.post("/v1/tasks", json=skyreels(prompt="held"))).json()
    await sign_in(client)
    refused = await client.post(f"/dashboard/tasks/{held['id']}/cancel", data={"csrf": "x"})
    assert refused.status == 403
    assert (await (await client.get(f"/v1/tasks/{held['id']}")).json())["status"] == "queued"
    csrf = await form_token(client, f"/dashboard/tasks/{held['id']}")
    done = await client.post(f"/dashboard/tasks/{held['id']}/cancel", data={"csrf": csrf},
                             allow_redirects=False)
    assert done.status == 303
    assert (await (await client.get(f"/v1/tasks/{held['id']}")).json())["status"] == "cancelled"
    await client.post("/dashboard/logout", data={"csrf": csrf})
    assert (await client.get("/dashboard/tasks", allow_redirects=False)).status == 303


async def test_signing_out_ends_the_session_on_the_server_not_only_in_the_browser(
    start_app: StartApp, aiohttp_client: Any
) -> None:
    client = await start_app()
    await sign_in(client)
    kept = client.session.cookie_jar.filter_cookies(client.make_url("/dashboard/"))
    copied = kept["reelhook_session"].value  # as a thief, or a shared computer, would keep it
    csrf = await form_token(client, "/dashboard/tasks")
    await client.post("/dashboard/logout", data={"csrf": csrf})
    again = await aiohttp_client(client.server, cookies={"reelhook_session": copied})
    assert (await again.get("/dashboard/tasks", allow_redirects=False)).status == 303
    refused = await again.post("/dashboard/logout", data={"csrf": csrf})
    assert refused.status == 401 and "Your session has ended" in await refused.text()
    assert (await again.get("/dashboard/events")).status == 401


async def test_redeliver_all_dead_of_a_channel(
    start_app: StartApp, webhook_sink: WebhookSink
) -> None:
    webhook_sink.script = [Answer(status=400), Answer(status=400)]
    client = await start_app(**FAST_RETRIES)
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": WEBHOOK_SECRET}]
    ids = [(await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json())["id"]
           for _ in range(2)]
    for task_id in ids:
        await wait_for_status(client, task_id)
        await wait_delivered(client, task_id)
    await sign_in(client)
    page = await (await client.get("/dashboard/deliveries")).text()
    assert page.index("Dead letters") < page.index(ids[0])
    csrf = await form_token(client, "/dashboard/deliveries")
    slack_only = await client.post("/dashboard/deliveries/redeliver",
                                   data={"csrf": csrf, "status": "dead", "channel": "slack"})
    assert "0 notices are due again" in await slack_only.text()
    answer = await client.post("/dashboard/deliveries/redeliver",
                               data={"csrf": csrf, "status": "dead", "channel": "webhook"})
    assert "2 notices are due again" in await answer.text()
    await webhook_sink.wait_for(2)
    bad = await client.post("/dashboard/deliveries/redeliver",
                            data={"csrf": csrf, "status": "pending"})
    assert bad.status == 422 and "status must be dead or delivered" in await bad.text()


async def test_the_event_stream_sends_task_changes_without_secrets(
    start_app: StartApp, piapi_sim: Any
) -> None:
    client = await start_app()
    await sign_in(client)
    stream = await client.get("/dashboard/events")
    assert stream.headers["Content-Type"] == "text/event-stream"
    assert await stream.content.readline() == b"retry: 2000\n"
    task = await (await client.post("/v1/tasks", json=skyreels(prompt="live one"))).json()
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["status"] != "succeeded":
        line = await asyncio.wait_for(stream.content.readline(), 10)
        if line.startswith(b"data: "):
            seen.append(json.loads(line[6:]))
    assert {item["id"] for item in seen} == {task["id"]}
    assert seen[0]["status"] == "queued" and seen[0]["prompt"] == "live one"
    assert all("callback_secret_hash" not in item and "request" not in item for item in seen)
    stream.close()


async def test_a_session_opens_a_few_live_streams_not_endless_ones(client: Any) -> None:
    await sign_in(client)
    most = live.STREAMS_PER_SESSION
    streams = [await client.get("/dashboard/events") for _ in range(most)]
    assert [stream.status for stream in streams] == [200] * most
    refused = await client.get("/dashboard/events")
    assert refused.status == 429 and refused.headers["Retry-After"] == "10"
    assert f"at most {most} live update streams per session" in await refused.text()
    for stream in streams:
        stream.close()


async def test_the_event_stream_needs_a_session(client: Any) -> None:
    assert (await client.get("/dashboard/events")).status == 401


async def test_an_unknown_task_page_is_a_404_page(client: Any) -> None:
    await sign_in(client)
    answer = await client.get("/dashboard/tasks/tsk_nothing")
    assert answer.status == 404 and "no task with id" in await answer.text()
    bad = await client.get("/dashboard/tasks?status=done")
    assert bad.status == 422 and "status must be one of" in await bad.text()
    for listing in ("tasks", "deliveries", "inbound", "destinations"):  # every listing, as the API
        misspelled = await client.get(f"/dashboard/{listing}?stauts=failed")
        assert misspelled.status == 400, listing
        assert "unknown query parameter" in await misspelled.text()


async def test_the_task_list_filters_by_status_and_provider_and_pages_with_a_cursor(
    client: Any, piapi_sim: Any
) -> None:
    piapi_sim.script.drop_callbacks = True
    ids = [(await (await client.post("/v1/tasks", json=skyreels(prompt=f"n{i}"))).json())["id"]
           for i in range(3)]
    await sign_in(client)
    first = await (await client.get("/dashboard/tasks?provider=piapi&limit=2")).text()
    assert ids[2] in first and ids[1] in first and ids[0] not in first
    older = re.search(r'<a class="button ghost" href="([^"]+)">Older tasks', first)
    assert older is not None
    link = URL(html.unescape(older.group(1)))
    assert link.query["provider"] == "piapi" and link.query["limit"] == "2"
    second = await (await client.get(str(link))).text()
    assert ids[0] in second and ids[1] not in second and "Older tasks" not in second
    none_done = await (await client.get("/dashboard/tasks?status=succeeded")).text()
    assert not any(task_id in none_done for task_id in ids)
    bad = await client.get("/dashboard/tasks?cursor=not-a-task-id")
    assert bad.status == 422 and "cursor must be a task id" in await bad.text()


def test_templates_have_no_inline_script_style_or_event_handlers() -> None:
    """The CSP allows scripts and styles from the server only: anything inline would be
    blocked in the browser, so none may be written."""
    templates = Path(dashboard.__file__).parent / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{template.name}: inline script {tag}"
        assert "<style" not in text, template.name
        assert not re.search(r"\sstyle\s*=", text), f"{template.name}: a style attribute"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{template.name}: an event handler"
        assert "javascript:" not in text, template.name


async def test_the_channel_filter_finds_deliveries_older_than_one_page(tmp_path: Path) -> None:
    """One webhook notice behind more Slack notices than the dashboard reads at once is still
    listed, and redelivering "all of a channel" reaches every one."""
    store = await SqliteStore.open(str(tmp_path / "many.db"))
    try:
        async def notified(channel: str) -> None:
            task_id = new_task_id()
            where = NewDestination(channel, "sealed", f"{channel}-label", f"{channel}:{task_id}")
            await store.create_task(NewTask(task_id, "piapi", "m", {}, destinations=(where,)))
            await store.record_event(task_id, EventIn("done", "poll", Observation(SUCCEEDED)))

        await notified("webhook")
        await asyncio.gather(*(notified("slack") for _ in range(SHOWN_DELIVERIES + 5)))
        webhook = await matching(store.outbox, "pending", "webhook", SHOWN_DELIVERIES)
        assert [row["label"] for row in webhook] == ["webhook-label"]
        every_slack = await matching(store.outbox, None, "slack", None)
        assert len(every_slack) == SHOWN_DELIVERIES + 5
        assert len(await matching(store.outbox, None, "slack", 7)) == 7
    finally:
        await store.close()
