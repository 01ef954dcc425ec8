"""The dashboard in a real browser (Debian's chromium through Playwright): sign-in, live
progress, the video, redelivery, hostile prompts, CSRF. Screenshots go to the artefacts folder."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from receiver.providers import PROVIDER_NAMES
from receiver.sandbox.demo import DEMO_TASKS
from receiver.sandbox.providers import LocalServer, PiapiSimulator
from receiver.sandbox.providers.videos import SAMPLE
from receiver.sandbox.sinks import Answer, WebhookSink
from tests.browser import artefacts_dir, launch, require_chromium
from tests.helpers import (
    API_TOKEN,
    FAST_RETRIES,
    WEBHOOK_SECRET,
    StartApp,
    skyreels,
    until,
    wait_delivered,
    wait_for_status,
    wait_sent,
)

HOSTILE = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
           '<b id="bold">not bold</b> "quotes" & ampersands')


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    require_chromium()
    async for launched in launch():
        yield launched


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = artefacts_dir(tmp_path_factory.getbasetemp())
    print(f"\nscreenshots in {folder}")
    return folder


def expect(locator: Any) -> Any:
    """Playwright's waiting assertions (they run under the page's CSP, unlike wait_for_function)."""
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(locator)


async def signed_in(browser: Any, base: str) -> Any:
    """A page signed in to the dashboard with the API token."""
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    await page.goto(f"{base}/dashboard")
    assert "/dashboard/login" in page.url
    await page.fill("input[name=token]", API_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/dashboard/tasks")
    return page


async def send_callback(sim: PiapiSimulator, provider_task_id: str, **changes: Any) -> None:
    """Call reelhook back as PiAPI would, with the task's secret, the given fields changed."""
    hook = sim.webhooks[provider_task_id]
    data = {**sim.tasks[provider_task_id], **changes}
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            hook["endpoint"], content=json.dumps({"timestamp": int(time.time()), "data": data}),
            headers={"content-type": "application/json", "x-webhook-secret": hook["secret"]},
        )
    assert answer.status_code == 200, answer.text


async def test_sign_in_then_a_task_appears_and_its_progress_moves_live(
    browser: Any, start_app: StartApp, piapi_sim: PiapiSimulator, shots: Path
) -> None:
    piapi_sim.script.drop_callbacks = True  # this test is the provider calling back
    client = await start_app()
    base = str(client.make_url("")).rstrip("/")
    page = await browser.new_page(viewport={"width": 1360, "height": 900})
    await page.goto(f"{base}/dashboard/login")
    await page.fill("input[name=token]", "not-the-token-at-all-0000")
    await page.click("button[type=submit]")
    assert "not one of this server's API tokens" in await page.inner_text(".problem")
    await page.screenshot(path=str(shots / "login.png"))
    page = await signed_in(browser, base)
    await page.wait_for_selector("#live.on")

    task = await (await client.post("/v1/tasks", json=skyreels(prompt="a red fox runs"))).json()
    row = f'tr[data-task-id="{task["id"]}"]'
    await page.wait_for_selector(row)
    assert "a red fox runs" in await page.inner_text(row)
    ptid = (await wait_sent(client, task["id"]))["provider_task_id"]
    for progress in (30, 70):
        await send_callback(piapi_sim, ptid, status="processing", progress=progress)
        await expect(page.locator(f"{row} progress")).to_have_js_property("value", progress)
        assert await page.text_content(f"{row} [data-field=status]") == "running"
        assert await page.inner_text(f"{row} [data-field=pct]") == f"{progress}%"
    video = f"{piapi_sim.base_url}/videos/{ptid}.mp4"
    await send_callback(piapi_sim, ptid, status="completed", output={"video_url": video})
    await expect(page.locator(f"{row} [data-field=status]")).to_have_text("succeeded")
    await page.screenshot(path=str(shots / "tasks.png"))

    await wait_for_status(client, task["id"])  # and the first try at its copy is over
    piapi_sim.videos.forget()  # the provider's link dies; the page plays reelhook's copy
    await page.click(f"{row} a.prompt")
    await page.wait_for_selector("video")
    src = await page.get_attribute("video", "src")
    assert src is not None and src != video
    assert src.startswith(f"{str(client.make_url('')).rstrip('/')}/v1/tasks/{task['id']}/video?")
    fetched = await page.evaluate(
        "src => fetch(src).then(r => r.arrayBuffer().then(b => [r.status, b.byteLength]))", src
    )
    assert fetched == [200, SAMPLE.stat().st_size]
    kept = await page.text_content("[data-field=kept]")
    assert kept is not None and f"kept, {SAMPLE.stat().st_size} bytes" in kept
    assert "a red fox runs" in await page.inner_text("h1")
    await page.screenshot(path=str(shots / "task.png"), full_page=True)


async def test_task_page_updates_live_and_shows_the_video_when_finished(
    browser: Any, start_app: StartApp, piapi_sim: PiapiSimulator, shots: Path
) -> None:
    piapi_sim.script.drop_callbacks = True
    client = await start_app()
    base = str(client.make_url("")).rstrip("/")
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    page = await signed_in(browser, base)
    await page.goto(f"{base}/dashboard/tasks/{task['id']}")
    assert await page.query_selector("video") is None
    await page.wait_for_selector("#live.on")
    ptid = (await wait_sent(client, task["id"]))["provider_task_id"]
    await send_callback(piapi_sim, ptid, status="processing", progress=45)
    await expect(page.locator(".hero progress")).to_have_js_property("value", 45)
    await send_callback(piapi_sim, ptid, status="completed",
                        output={"video_url": f"{piapi_sim.base_url}/videos/{ptid}.mp4"})
    await page.wait_for_selector("video")  # the page reloads itself once the task is done
    assert await page.text_content(".hero [data-field=status]") == "succeeded"


async def test_redeliver_from_the_task_page_reaches_the_receiver(
    browser: Any, start_app: StartApp, webhook_sink: WebhookSink, shots: Path
) -> None:
    webhook_sink.script = [Answer(status=400, body="nope")]  # final: the notice goes dead
    client = await start_app(**FAST_RETRIES)
    notify = [{"channel": "webhook", "url": webhook_sink.url, "secret": WEBHOOK_SECRET}]
    task = await (await client.post("/v1/tasks", json=skyreels(notify=notify))).json()
    await wait_for_status(client, task["id"])
    (delivery,) = await wait_delivered(client, task["id"])
    assert delivery["status"] == "dead" and webhook_sink.accepted == []

    base = str(client.make_url("")).rstrip("/")
    page = await signed_in(browser, base)
    await page.goto(f"{base}/dashboard/deliveries")
    assert task["id"] in await page.inner_text("section.card")  # dead letters come first
    await page.screenshot(path=str(shots / "deliveries.png"), full_page=True)
    await page.goto(f"{base}/dashboard/tasks/{task['id']}")
    await page.click(".notice button:has-text('Redeliver')")
    await page.wait_for_url(f"{base}/dashboard/tasks/{task['id']}")
    (received,) = await webhook_sink.wait_for(1)
    assert received.verified and received.body["data"]["id"] == task["id"]
    await until(lambda: _delivered(client, task["id"]), what="the redelivery recorded")
    await page.reload()
    assert "delivered" in await page.text_content(".notice .badge")


async def test_a_prompt_full_of_html_and_script_shows_as_text_and_runs_nothing(
    browser: Any, start_app: StartApp, shots: Path
) -> None:
    client = await start_app()
    task = await (await client.post("/v1/tasks", json=skyreels(prompt=HOSTILE))).json()
    await wait_for_status(client, task["id"])
    base = str(client.make_url("")).rstrip("/")
    page = await signed_in(browser, base)
    for path in ("/dashboard/tasks", f"/dashboard/tasks/{task['id']}"):
        await page.goto(f"{base}{path}")
        assert await page.evaluate("window.__pwned") is None
        assert await page.query_selector("#bold") is None
        assert "<script>window.__pwned = 1</script>" in await page.inner_text("main")
    await page.screenshot(path=str(shots / "hostile-prompt.png"))


async def test_a_post_without_the_csrf_token_is_refused(
    browser: Any, start_app: StartApp, piapi_sim: PiapiSimulator
) -> None:
    piapi_sim.script.drop_callbacks = True
    client = await start_app()
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    base = str(client.make_url("")).rstrip("/")
    page = await signed_in(browser, base)
    url = f"{base}/dashboard/tasks/{task['id']}/cancel"
    for form in ({}, {"csrf": "forged-token"}):
        answer = await page.context.request.post(url, form=form)
        assert answer.status == 403
        assert "CSRF token missing or wrong" in await answer.text()
    assert (await (await client.get(f"/v1/tasks/{task['id']}")).json())["status"] != "cancelled"
    await page.goto(f"{base}/dashboard/tasks/{task['id']}")
    await page.click("button:has-text('Cancel task')")  # the page's own form carries the token
    # ... so the request reaches the task service, which says what PiAPI allows.
    assert "PiAPI offers no cancel" in await page.inner_text(".problem")


async def test_every_page_renders_after_a_demo_sized_run(
    browser: Any, start_app: StartApp, webhook_sink: WebhookSink, shots: Path,
    trusted_peers: set[tuple[str, int]],
) -> None:
    refusing = WebhookSink(WEBHOOK_SECRET)
    refusing.script = [Answer(status=400, body="unknown endpoint")]
    refuser = await LocalServer(refusing.app()).start()
    trusted_peers.add(("127.0.0.1", refuser.port))
    client = await start_app(inbound_secrets={"render-farm": (WEBHOOK_SECRET,)}, **FAST_RETRIES)
    good = [{"channel": "webhook", "url": webhook_sink.url, "secret": WEBHOOK_SECRET}]
    bad = [{"channel": "webhook", "url": f"{refuser.url}/hook", "secret": WEBHOOK_SECRET}]
    bodies = [*({**body, "notify": good} for body in DEMO_TASKS),
              skyreels(prompt="FPS-24, [fail] a glass city melts", notify=bad)]
    ids = [(await (await client.post("/v1/tasks", json=body)).json())["id"] for body in bodies]
    for task_id in ids:
        await wait_for_status(client, task_id, timeout=30)
        await wait_delivered(client, task_id)
    await refuser.stop()
    message = json.dumps({"type": "render.finished", "farm": "eu-1", "frames": 240})
    now = datetime.fromtimestamp(int(time.time()), UTC)
    answer = await client.post("/callbacks/standard/render-farm", data=message, headers={
        "webhook-id": "msg_2k9", "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(WEBHOOK_SECRET).sign("msg_2k9", now, message),
        "content-type": "application/json"})
    assert answer.status == 200, await answer.text()

    base = str(client.make_url("")).rstrip("/")
    page = await signed_in(browser, base)
    for task_id in ids:
        assert task_id in await page.inner_text("#tasks")
    await page.screenshot(path=str(shots / "tasks-demo.png"))
    await page.goto(f"{base}/dashboard/tasks/{ids[0]}")
    await page.wait_for_selector("video")
    await page.screenshot(path=str(shots / "task-demo.png"), full_page=True)
    await page.goto(f"{base}/dashboard/deliveries")
    assert ids[-1] in await page.inner_text("section.card")
    await page.screenshot(path=str(shots / "deliveries.png"), full_page=True)
    await page.goto(f"{base}/dashboard/costs")
    assert await page.locator("svg.chart rect").count() >= 4
    for provider in PROVIDER_NAMES:
        assert provider in await page.inner_text("table")
    await page.screenshot(path=str(shots / "costs.png"), full_page=True)
    await page.goto(f"{base}/dashboard/inbound")
    assert "render.finished" in await page.inner_text("main")
    await page.screenshot(path=str(shots / "inbound.png"))
    await client.post("/v1/destinations", json={
        "name": "render farm ops", "channel": "webhook", "url": webhook_sink.url,
        "secret": WEBHOOK_SECRET, "on": ["failed"], "provider": "piapi"})
    await page.goto(f"{base}/dashboard/destinations")
    row = page.locator("tr[data-destination='render farm ops']")
    await row.locator("button", has_text="Send a test notice").click()
    await page.wait_for_selector("[data-field=tested]")
    assert "render farm ops: delivered" in await page.inner_text("[data-field=tested]")
    await page.screenshot(path=str(shots / "destinations.png"), full_page=True)


async def _delivered(client: Any, task_id: str) -> bool:
    body = await (await client.get(f"/v1/tasks/{task_id}/deliveries")).json()
    return [d["status"] for d in body["deliveries"]] == ["delivered"]


LONG_PROMPT = "a very long prompt about a lighthouse at dawn " * 110  # about 5,000 characters
LONG_ERROR = "E" * 20_000  # one unbroken word: it once made the task page 25,203 px wide


async def test_long_text_fits_a_desktop_and_a_phone_with_the_whole_text_a_click_away(
    browser: Any, start_app: StartApp, piapi_sim: PiapiSimulator, shots: Path
) -> None:
    piapi_sim.script.drop_callbacks = True
    client = await start_app()
    task = await (await client.post("/v1/tasks", json=skyreels(prompt=LONG_PROMPT))).json()
    sent = await wait_sent(client, task["id"])
    await send_callback(piapi_sim, sent["provider_task_id"], status="failed",
                        error={"code": 500, "message": LONG_ERROR})
    await wait_for_status(client, task["id"])
    base = str(client.make_url("")).rstrip("/")
    page = await signed_in(browser, base)
    for width, name in ((1360, "desktop"), (390, "phone")):
        await page.set_viewport_size({"width": width, "height": 900})
        pages = (("/dashboard/tasks", "tasks"), (f"/dashboard/tasks/{task['id']}", "task"))
        for path, shot in pages:
            await page.goto(f"{base}{path}")
            wide = await page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{path} is {wide} px wide at {width} px"
            await page.screenshot(path=str(shots / f"long-text-{shot}-{name}.png"), full_page=True)
        heading = await page.inner_text("h1.prompt-title")
        assert len(heading) <= 200 and heading.endswith("…")
        await page.click("[data-field=whole-prompt] summary")
        assert " ".join(LONG_PROMPT.split()) in " ".join((await page.inner_text(
            "[data-field=whole-prompt]")).split())
        await page.click("[data-field=whole-error] summary")
        assert LONG_ERROR in await page.inner_text("[data-field=whole-error]")
    # On the phone the list still shows the task and its state.
    await page.goto(f"{base}/dashboard/tasks")
    assert await page.is_visible(f"tr[data-task-id='{task['id']}'] .badge")
