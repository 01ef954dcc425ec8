"""The pg_terminate_backend storm against real processes: 2 `serve` (each with its own
dispatcher) + 1 `worker` on one PostgreSQL database, while Wave tasks are submitted and called
back through a loopback balancer and every connection of theirs is ended again and again. Every
notice is delivered, none twice, and no process is left without its dispatcher."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg

from receiver.sandbox.providers import LocalServer
from receiver.sandbox.providers.wave import WaveSimulator
from receiver.sandbox.sinks import WebhookSink
from tests.helpers import WEBHOOK_SECRET, port_for_child_process, serving
from tests.runtime.test_postgres_processes import (
    Balancer,
    _ready,
    _reelhook,
    _settled,
    _submit,
    fleet_env,
    pg_url,  # noqa: F401  (the fixture)
)
from tests.store.test_postgres_faults import storm

TASKS = 60
SUBMITTERS = 6
DEADLINE = 180.0


async def test_a_terminate_storm_on_two_serves_and_a_worker_doubles_no_notice(
    pg_url: str, tmp_path: Path  # noqa: F811
) -> None:
    balancer = Balancer()
    async with serving(WaveSimulator()) as sim, LocalServer(balancer.app()) as router:
        sim.script.step_delay = 0.05
        sink = WebhookSink(WEBHOOK_SECRET)
        hook_server = await LocalServer(sink.app()).start()
        hook = f"{hook_server.url}/hook"
        common = fleet_env(pg_url, router.url, sim) | {
            "REELHOOK_DISPATCH_INTERVAL": "1", "REELHOOK_VIDEO_STORE": "off",
        }
        ports = [port_for_child_process() for _ in range(2)]
        webs = [await _reelhook(["serve"], common | {"PORT": str(port)}, tmp_path / f"web{i}.log")
                for i, port in enumerate(ports)]
        worker = await _reelhook(["worker"], common, tmp_path / "worker.log")
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        db: asyncpg.Connection | None = None
        try:
            async with aiohttp.ClientSession() as http:
                for url in urls:
                    await _ready(http, url)
                balancer.backends = urls
                numbers = iter(range(TASKS))

                async def submitter() -> None:
                    for number in numbers:
                        await _submit(http, router.url, number, hook)

                async with storm(pg_url.rsplit("/", 1)[1], every=0.2) as ended:
                    await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
                    await asyncio.sleep(3.0)  # callbacks and notices go on under the storm
                assert sum(ended) > 10  # the storm did end their connections
                db = await asyncpg.connect(pg_url)  # after the storm, which would end it too
                loop = asyncio.get_running_loop()
                deadline = loop.time() + DEADLINE
                while not await _settled(db):
                    assert loop.time() < deadline, "work left undone"
                    await asyncio.sleep(0.5)
                # A pooled connection the storm ended may fail one health check; a dead loop
                # would keep /healthz at 503, naming it.
                for _ in range(60):
                    answers = [await http.get(f"{url}/healthz") for url in urls]
                    statuses = [answer.status for answer in answers]
                    health = [await answer.text() for answer in answers]
                    if statuses == [200, 200]:
                        break
                    await asyncio.sleep(0.5)
            tasks = await db.fetch("SELECT id, status, error FROM tasks")
            deliveries = await db.fetch("SELECT task_id, status FROM deliveries")
        finally:
            if db is not None:
                await db.close()
            for process in [*webs, worker]:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(process.wait(), 60) for process in [*webs, worker]]
            await hook_server.stop()

    assert statuses == [200, 200], health  # each serve's loops run (a dead one says 503)
    assert codes == [0, 0, 0]  # the worker ran to the end: its dispatcher never gave up
    # Every task ended once. A send whose connection the storm cut may fail as cut off (its
    # outcome at Wave unknown): that is the documented answer, and it still gets its notice.
    cut = [t["error"] for t in tasks if t["status"] == "failed"]
    assert all("in flight" in (error or "") or "cut off" in (error or "") for error in cut), cut
    assert Counter(t["status"] for t in tasks) == {"succeeded": TASKS - len(cut)} | (
        {"failed": len(cut)} if cut else {})
    assert Counter(d["task_id"] for d in deliveries) == Counter({t["id"]: 1 for t in tasks})
    assert {d["status"] for d in deliveries} == {"delivered"}
    accepted = Counter(item.body["data"]["id"] for item in sink.accepted)
    assert accepted == Counter({t["id"]: 1 for t in tasks})  # every notice once, none twice
