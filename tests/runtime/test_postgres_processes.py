"""Many reelhook processes on one PostgreSQL database, two of them killed mid-run.

3 `serve` + 2 `worker` processes; 500 Wave tasks with webhook notices, submitted and called back
through a loopback balancer that picks a live web process at random (as a platform's router
does). One web process and one worker are SIGKILLed mid-run. Every task must end in the right
state exactly once, every notice must be accepted once (beyond the sends the killed worker had in
flight, which are counted), and the fake Wave must never see more than its 5 unfinished tasks.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from receiver.sandbox.providers import LocalServer
from receiver.sandbox.providers.wave import WaveSimulator
from receiver.sandbox.sinks import WebhookSink
from receiver.services.secrets import new_fernet_key
from tests.databases import fresh_postgres
from tests.helpers import API_TOKEN, WEBHOOK_SECRET, port_for_child_process, serving, wave

TASKS = 500
KILL_AFTER = 150  # tasks submitted before the kills
SUBMITTERS = 12
DEADLINE = 300.0  # a hang would be forever; how fast it runs is not what this test measures
CUT_OFF = "reelhook stopped while the call to wave was in flight"
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


class Balancer:
    """A loopback router: each request goes to a random live backend, the next one on a
    connection error (a killed process), like a platform's router."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self._session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        app.cleanup_ctx.append(self._lifetime)
        return app

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        self._session = aiohttp.ClientSession()
        yield
        await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        for backend in random.sample(self.backends, len(self.backends)):
            try:
                async with self._session.request(
                    request.method, backend + request.path_qs, data=body, headers=headers
                ) as answer:
                    return web.Response(
                        status=answer.status, body=await answer.read(),
                        content_type=answer.content_type,
                    )
            except aiohttp.ClientConnectionError:
                continue
        return web.Response(status=502, text="no backend answered")


async def _reelhook(
    argv: list[str], env: dict[str, str], log: Path
) -> asyncio.subprocess.Process:
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "receiver", *argv, env={"PATH": os.environ["PATH"], **env},
            stdout=output, stderr=asyncio.subprocess.STDOUT,
        )


async def _ready(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(600):
        try:
            async with http.get(f"{url}/healthz") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered")


async def _submit(http: aiohttp.ClientSession, url: str, number: int, hook: str) -> None:
    """One task, retried with the same Idempotency-Key until some web process answers 2xx."""
    body = wave(prompt=f"task {number}", notify=[
        {"channel": "webhook", "url": hook, "secret": WEBHOOK_SECRET}])
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Idempotency-Key": f"key-{number}"}
    for _ in range(100):
        try:
            async with http.post(f"{url}/v1/tasks", json=body, headers=headers) as answer:
                if answer.status in (200, 202):
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"task {number} was never accepted")


async def _settled(db: asyncpg.Connection) -> bool:
    unfinished = await db.fetchval(
        "SELECT count(*) FROM tasks WHERE status IN ('queued', 'running')")
    open_notices = await db.fetchval(
        "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')")
    return bool(unfinished == 0 and open_notices == 0)


def fleet_env(pg_url: str, router_url: str, sim: WaveSimulator) -> dict[str, str]:
    """The settings every process of a test fleet shares: one database, one key, the fake Wave,
    quick timeouts and retries."""
    return {
        "DATABASE_URL": pg_url, "REELHOOK_API_TOKEN": API_TOKEN,
        "REELHOOK_SECRET_KEY": new_fernet_key(), "REELHOOK_PUBLIC_URL": router_url,
        "WAVE_BASE_URL": sim.base_url, "WAVE_API_KEY": sim.api_key,
        "REELHOOK_ALLOW_PRIVATE_URLS": "on", "REELHOOK_PROVIDER_TIMEOUT": "3",
        "REELHOOK_DELIVERY_TIMEOUT": "2", "REELHOOK_CALLBACK_GRACE": "3",
        "REELHOOK_POLL_INITIAL": "0.5", "REELHOOK_POLL_MAX_INTERVAL": "2",
        "REELHOOK_RETRY_SCHEDULE": "0.2,0.5,1,1,1,1,1,1", "REELHOOK_DB_POOL_SIZE": "4",
        "REELHOOK_HOST": "127.0.0.1",
    }


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_postgres() as url:
        yield url


async def test_many_processes_with_two_killed_lose_nothing_and_double_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    balancer = Balancer()
    async with serving(WaveSimulator()) as sim, LocalServer(balancer.app()) as router:
        sim.script.step_delay = 0.02
        sink = WebhookSink(WEBHOOK_SECRET)
        hook_server = await LocalServer(sink.app()).start()
        hook = f"{hook_server.url}/hook"
        common = fleet_env(pg_url, router.url, sim) | {
            "REELHOOK_DISPATCH_INTERVAL": "5", "REELHOOK_VIDEO_STORE": str(tmp_path / "videos"),
        }
        webs, ports = [], [port_for_child_process() for _ in range(3)]
        for index, port in enumerate(ports):
            env = common | {"PORT": str(port), "REELHOOK_WORKER": "off"}
            webs.append(await _reelhook(["serve"], env, tmp_path / f"web{index}.log"))
        workers = [
            await _reelhook(["worker"], common, tmp_path / f"worker{index}.log")
            for index in range(2)
        ]
        db = await asyncpg.connect(pg_url)
        try:
            async with aiohttp.ClientSession() as http:
                for port in ports:
                    await _ready(http, f"http://127.0.0.1:{port}")
                balancer.backends = [f"http://127.0.0.1:{port}" for port in ports]
                numbers = iter(range(TASKS))
                submitted = Counter[str]()

                async def submitter() -> None:
                    for number in numbers:
                        await _submit(http, router.url, number, hook)
                        submitted["n"] += 1

                jobs = [asyncio.create_task(submitter()) for _ in range(SUBMITTERS)]
                while submitted["n"] < KILL_AFTER:
                    await asyncio.sleep(0.05)
                # The kills: no clean stop, no handing back; whatever they held is left behind.
                webs[0].send_signal(signal.SIGKILL)
                workers[0].send_signal(signal.SIGKILL)
                await webs[0].wait()
                await workers[0].wait()
                killed_worker = f"{workers[0].pid}-"
                in_flight_notices = await db.fetchval(
                    "SELECT count(*) FROM deliveries WHERE status = 'sending'"
                    " AND claim_owner LIKE $1", killed_worker + "%")
                await asyncio.gather(*jobs)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + DEADLINE
                while not await _settled(db):
                    assert loop.time() < deadline, "work left undone"
                    await asyncio.sleep(0.5)
            await sim.wait_idle()
            tasks = await db.fetch("SELECT id, status, error, claim_owner FROM tasks")
            deliveries = await db.fetch("SELECT task_id, status FROM deliveries")
        finally:
            await db.close()
            for process in webs + workers:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            for process in webs + workers:
                await asyncio.wait_for(process.wait(), 60)
            await hook_server.stop()

    killed_web = f"{socket.gethostname()}-{webs[0].pid}-"
    # Every submission made exactly one task (Idempotency-Key held across processes).
    assert len(tasks) == TASKS
    # Every task ended once, in the right state: succeeded, or failed because its send was cut
    # off by the kill of the web process that held it (its outcome at Wave is unknown).
    cut_off = [t for t in tasks if t["status"] == "failed" and CUT_OFF in (t["error"] or "")]
    assert all(t["claim_owner"] in (None, "") or t["claim_owner"].startswith(killed_web)
               for t in cut_off), cut_off
    assert len(cut_off) <= 5 + SUBMITTERS
    others = Counter(t["status"] for t in tasks if t not in cut_off)
    assert others == {"succeeded": TASKS - len(cut_off)}
    # One notice per task, each delivered; the receiver accepted each once, except those the
    # killed worker was sending at the kill (sent again after its lease ran out).
    assert Counter(d["task_id"] for d in deliveries) == Counter({t["id"]: 1 for t in tasks})
    assert {d["status"] for d in deliveries} == {"delivered"}
    accepted = Counter(item.body["data"]["id"] for item in sink.accepted)
    assert set(accepted) == {t["id"] for t in tasks}
    doubled = sum(count - 1 for count in accepted.values())
    assert doubled <= in_flight_notices, (doubled, in_flight_notices)
    # Wave's limit of 5 unfinished tasks was never exceeded: it never had to refuse one.
    assert sim.refused == []
