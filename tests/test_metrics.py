"""GET /metrics: every family, scraped after a demo-sized run, matches what happened."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from receiver.providers import PROVIDER_NAMES
from receiver.sandbox.demo import DEMO_TASKS
from receiver.sandbox.providers import SIMULATORS, LocalServer
from receiver.sandbox.sinks import Answer, WebhookSink
from receiver.settings import ProviderSettings
from tests.helpers import (
    FAST_RETRIES,
    WEBHOOK_SECRET,
    Samples,
    StartApp,
    scrape,
    skyreels,
    total,
    wait_delivered,
    wait_for_status,
    wait_sent,
)

PROVIDERS = PROVIDER_NAMES


class CountedSims:
    """The four simulators, each counting the requests reelhook made to it."""

    def __init__(self) -> None:
        self.sims: dict[str, Any] = {name: sim() for name, sim in SIMULATORS.items()}
        self.calls: Counter[str] = Counter()

    def app_of(self, name: str) -> web.Application:
        app: web.Application = self.sims[name].app()

        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            if not request.path.startswith("/videos/"):  # a video's download is no API call
                self.calls[name] += 1
            return await handler(request)

        app.middlewares.append(count)
        return app


@pytest.fixture
async def counted() -> AsyncIterator[CountedSims]:
    sims = CountedSims()
    servers = []
    for name, sim in sims.sims.items():
        server = await LocalServer(sims.app_of(name)).start()
        sim.base_url = server.url
        servers.append(server)
    yield sims
    for server in servers:
        await server.stop()


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def refusing(trusted_peers: set[tuple[str, int]]) -> AsyncIterator[LocalServer]:
    """A receiver that refuses every notice for good (400)."""
    sink = WebhookSink(WEBHOOK_SECRET)
    sink.script = [Answer(status=400, body="no")]
    async with LocalServer(sink.app()) as server:
        trusted_peers.add(("127.0.0.1", server.port))
        yield server


async def test_metrics_after_a_demo_sized_run_match_what_happened(
    start_app: StartApp, settings: Any, counted: CountedSims, webhook_sink: WebhookSink,
    refusing: LocalServer,
) -> None:
    sims = counted.sims
    providers = {name: ProviderSettings(sim.api_key, sim.base_url) for name, sim in sims.items()}
    client = await start_app(providers=providers, **FAST_RETRIES)
    before = await scrape(client)
    good = [{"channel": "webhook", "url": webhook_sink.url, "secret": WEBHOOK_SECRET}]
    ids = [(await (await client.post("/v1/tasks", json={**body, "notify": good})).json())["id"]
           for body in DEMO_TASKS]
    for task_id in ids:
        await wait_for_status(client, task_id, timeout=30)
        await wait_delivered(client, task_id)

    # A provider failure, whose notice goes to a receiver that refuses it for good (dead).
    sims["piapi"].script.submit_http_status = 500
    bad = [{"channel": "webhook", "url": f"{refusing.url}/hook", "secret": WEBHOOK_SECRET}]
    failed = (await (await client.post("/v1/tasks", json=skyreels(notify=bad))).json())["id"]
    assert (await wait_for_status(client, failed))["status"] == "failed"
    await wait_delivered(client, failed)
    sims["piapi"].script.submit_http_status = None
    # A forged callback, and a task left in flight at the provider.
    forged = await client.post(f"/callbacks/piapi/{ids[0]}", json={"data": {}},
                               headers={"x-webhook-secret": "not-the-secret"})
    assert forged.status == 401
    sims["piapi"].script.drop_callbacks = True
    waiting = (await (await client.post("/v1/tasks", json=skyreels())).json())["id"]
    await wait_for_status(client, waiting, {"queued", "running"})
    await wait_sent(client, waiting)
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    tasks = (await (await client.get("/v1/tasks?limit=200")).json())["tasks"]
    by_provider = {t["id"]: t["provider"] for t in tasks}
    recorded: Counter[str] = Counter()
    events = 0
    for task in tasks:
        rows = (await (await client.get(f"/v1/tasks/{task['id']}/events")).json())["events"]
        events += len(rows)
        recorded[by_provider[task["id"]]] += sum(1 for e in rows if e["source"] == "callback")

    # Callbacks by provider and outcome, and their latency histogram.
    piapi_sent = [s for s in sims["piapi"].sent if s.answer is not None]
    assert recorded["piapi"] > 0 and recorded["wave"] > 0
    for provider in PROVIDERS:
        assert delta("reelhook_callbacks_total", provider=provider, outcome="recorded") == (
            recorded[provider])
        assert delta("reelhook_callback_seconds_count", provider=provider) == delta(
            "reelhook_callbacks_total", provider=provider)
    assert delta("reelhook_callbacks_total", provider="piapi", outcome="unauthorized") == 1
    assert delta("reelhook_callbacks_total", provider="piapi") == len(piapi_sent) + 1
    # Writer batches: every task and event is one write, and more (claims, schedules) besides.
    assert delta("reelhook_writer_batch_size_count") >= 1
    assert delta("reelhook_writer_batch_size_sum") >= len(tasks) + events
    # Tasks by provider and state, and the one left in flight.
    states = Counter((t["provider"], t["status"]) for t in tasks)
    for (provider, state), count in states.items():
        assert value(after, "reelhook_tasks", provider=provider, state=state) == count
    assert total(after, "reelhook_tasks") == len(tasks) == len(DEMO_TASKS) + 2
    for provider in PROVIDERS:
        expected = 1 if provider == "piapi" else 0
        assert value(after, "reelhook_submits_in_flight", provider=provider) == expected
    # Deliveries by channel and outcome; pending and dead.
    assert len(webhook_sink.accepted) == len(DEMO_TASKS)
    assert value(after, "reelhook_deliveries_total", channel="webhook", outcome="delivered") == (
        len(DEMO_TASKS))
    assert value(after, "reelhook_deliveries_total", channel="webhook", outcome="dead") == 1
    assert value(after, "reelhook_deliveries_pending") == 0
    assert value(after, "reelhook_deliveries_dead") == 1
    # Provider API calls: one observation per request each simulator received; one error.
    for provider in PROVIDERS:
        assert delta("reelhook_provider_call_seconds_count", provider=provider) == (
            counted.calls[provider]), provider
    assert delta("reelhook_provider_call_errors_total", provider="piapi", kind="unavailable") == 1
    assert delta("reelhook_provider_call_errors_total") == 1
    # Labels stay bounded: no task ids, URLs or secrets anywhere.
    text = await (await client.get("/metrics")).text()
    for task_id in by_provider:
        assert task_id not in text
    assert "127.0.0.1" not in text and "whsec_" not in text


async def test_metrics_need_a_token_and_honour_their_own_setting(start_app: StartApp) -> None:
    client = await start_app()
    anonymous = await client.get("/metrics", headers={"Authorization": ""})
    assert anonymous.status == 401
    assert (await anonymous.json())["error"]["field"] == "Authorization"
    await scrape(client)
    scraper = "scraper-token-0123456789"
    client = await start_app(metrics_tokens=(scraper,), port=0)
    await scrape(client, scraper)
    refused = await client.get("/metrics")
    assert refused.status == 401  # the API token no longer opens /metrics


def test_metrics_token_setting_is_checked() -> None:
    from receiver.errors import SettingsError
    from receiver.settings import from_environ
    from tests.helpers import GOOD_ENV as GOOD

    with pytest.raises(SettingsError, match="REELHOOK_METRICS_TOKEN"):
        from_environ({**GOOD, "REELHOOK_METRICS_TOKEN": "short,bad token"})
    chosen = from_environ({**GOOD, "REELHOOK_METRICS_TOKEN": "s" * 20})
    assert chosen.metrics_tokens == ("s" * 20,)
    assert replace(chosen, metrics_tokens=()).metrics_tokens == ()
