"""Helpers shared by the tests: request bodies, waits on conditions, callback bodies, sockets,
and a real `reelhook serve` process for tests that kill or signal it.

Fixtures live in conftest.py; everything a test imports lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from receiver.errors import Unprocessable
from receiver.providers import PROVIDER_NAMES
from receiver.providers.base import ProviderConfig
from receiver.providers.registry import ADAPTERS
from receiver.sandbox.providers import LocalServer
from receiver.services.secrets import new_fernet_key
from receiver.services.validation import check_request, parse_submission
from store.states import TERMINAL

API_TOKEN = "test-token-0123456789abcdef"
IMAGE_URL = "https://images.example.com/girl.webp"
# Notice destinations on loopback (dispatcher tests): a Slack-compatible webhook, a webhook
# receiver verifying our signatures with the standardwebhooks package, a real SMTP server.
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAST_RETRIES: dict[str, Any] = {
    "retry_schedule": (0.05, 0.05, 0.05), "dispatch_interval": 0.02, "delivery_timeout": 2.0,
    "slack_min_interval": 0.0,
}
FAST_POLLS: dict[str, Any] = {"poll_initial": 0.05, "poll_max_interval": 0.2}
PNG_DATA_URI = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhg"
    "GAWjR9awAAAABJRU5ErkJggg=="
)
# The least environment `from_environ` accepts.
GOOD_ENV = {"REELHOOK_API_TOKEN": "a" * 20, "REELHOOK_SECRET_KEY": new_fernet_key()}
Client = TestClient[Any, Any]
StartApp = Callable[..., Any]  # the start_app fixture: async (**setting overrides) -> client
SimT = TypeVar("SimT", bound=Any)


def listening_socket(port: int = 0) -> socket.socket:
    """A loopback socket already listening (port 0: the kernel picks one), for a test server to
    serve on: the port is known before the app is built and never free for anyone else."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port held by a socket that never listens: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def port_for_child_process() -> int:
    """A free port for a `reelhook serve` child process to bind. Only for child processes, which
    cannot be handed a socket; servers in the test process bind port 0 (listening_socket)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(sim: SimT) -> AsyncIterator[SimT]:
    """Serve a simulator on loopback (port 0) and tell it its own base URL."""
    async with LocalServer(sim.app()) as server:
        sim.base_url = server.url
        yield sim


async def until(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Wait until `check()` holds, looking every few milliseconds; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never became true")
        await asyncio.sleep(0.01)


def body_of(defaults: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A request body: `defaults` with `fields` over them; None values are left out."""
    body = {**defaults, **fields}
    return {key: value for key, value in body.items() if value is not None}


def skyreels(**fields: Any) -> dict[str, Any]:
    """A valid PiAPI SkyReels request, with fields overridden."""
    return body_of({"provider": "piapi", "model": "Qubico/skyreels",
                    "prompt": "FPS-24, a woman smiles", "image": IMAGE_URL}, fields)


def framepack(**fields: Any) -> dict[str, Any]:
    """A valid PiAPI Framepack request, with fields overridden."""
    return body_of({"provider": "piapi", "model": "Qubico/framepack",
                    "prompt": "camera zooms in", "image": IMAGE_URL, "duration": 10}, fields)


def wave(**fields: Any) -> dict[str, Any]:
    """A valid Wave SkyReels V4 request, with fields overridden."""
    return body_of({"provider": "wave", "model": "skyreels-v4-fast",
                    "prompt": "a shiba walks on the moon", "duration": 5, "resolution": "720p"},
                   fields)


def apimart(**fields: Any) -> dict[str, Any]:
    """A valid APIMart SkyReels V4 request, with fields overridden."""
    return body_of({"provider": "apimart", "model": "skyreels-v4-fast",
                    "prompt": "a serene forest at sunset", "duration": 5}, fields)


def onemin(**fields: Any) -> dict[str, Any]:
    """A valid 1min.ai SkyReels request (image as a data URI), with fields overridden."""
    return body_of({"provider": "onemin", "model": "Qubico/skyreels",
                    "prompt": "FPS-24, a woman smiles", "image": PNG_DATA_URI}, fields)


def rule_error(body: dict[str, Any]) -> Unprocessable | None:
    """The error the API's checks give this body before anything is recorded or sent (the
    request's types, then the provider's rules), run directly; None when it passes."""
    adapters = {adapter.name: adapter for adapter in ADAPTERS}
    try:
        submission = parse_submission(body, PROVIDER_NAMES)
        adapter = adapters[submission.request.provider]
        provider = adapter(ProviderConfig(base_url="http://provider.invalid", api_key="unused"))
        check_request(provider, submission.request)  # type: ignore[arg-type]
    except Unprocessable as exc:
        return exc
    return None


async def wait_for_status(
    client: Client, task_id: str, statuses: set[str] | frozenset[str] = TERMINAL,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Poll the client API until the task reaches one of `statuses` (and, when it succeeded,
    its video copy's first try is over)."""
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = await (await client.get(f"/v1/tasks/{task_id}")).json()
        video = task.get("video") or {}
        copying = video.get("status") == "pending" and video.get("error") is None
        if task["status"] in statuses and not copying:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} stuck in {task['status']}")
        await asyncio.sleep(0.02)


async def wait_sent(client: Client, task_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The task once reelhook has recorded the provider's task id."""
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = await (await client.get(f"/v1/tasks/{task_id}")).json()
        if task["provider_task_id"]:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} was never sent")
        await asyncio.sleep(0.02)


async def wait_delivered(
    client: Client, task_id: str, count: int = 1, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Wait until `count` of the task's deliveries are delivered or dead; return them all."""
    deadline = time.monotonic() + timeout
    while True:
        body = await (await client.get(f"/v1/tasks/{task_id}/deliveries")).json()
        done = [d for d in body["deliveries"] if d["status"] in ("delivered", "dead")]
        if len(done) >= count:
            return list(body["deliveries"])
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries of {task_id} still open: {body}")
        await asyncio.sleep(0.02)


def piapi_callback(task: dict[str, Any], status: str, **data: Any) -> bytes:
    """A PiAPI callback body about `task` in `status`."""
    body = {
        "timestamp": data.pop("timestamp", int(time.time())),
        "data": {
            "task_id": task["provider_task_id"],
            "model": "Qubico/skyreels",
            "task_type": "img2video",
            "status": status,
            "output": {},
            **data,
        },
    }
    return json.dumps(body).encode()


async def post_callback(client: Any, path: str, body: bytes, secret: str | None) -> Any:
    """POST a PiAPI-style callback (secret in x-webhook-secret)."""
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["x-webhook-secret"] = secret
    return await client.post(path, data=body, headers=headers)


async def events_of(client: Any, task_id: str) -> list[dict[str, Any]]:
    """The task's events through the client API."""
    return list((await (await client.get(f"/v1/tasks/{task_id}/events")).json())["events"])


# How long a `reelhook serve` child may take to answer /healthz (a loaded machine is slow).
SERVE_START_TIMEOUT = 60.0


class ServedReelhook:
    """Starts, kills and restarts `python -m receiver serve` on one database file."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = port_for_child_process()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PORT": str(self.port),
            "REELHOOK_HOST": "127.0.0.1",
            "REELHOOK_PUBLIC_URL": self.url,
            "REELHOOK_API_TOKEN": API_TOKEN,
            **env,
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the process and wait until /healthz answers."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "receiver", "serve", env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        deadline = time.monotonic() + SERVE_START_TIMEOUT
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise AssertionError("reelhook serve did not start")

    async def signal(self, signum: int) -> int:
        """Send a signal and wait for the exit status."""
        assert self.process is not None
        self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), timeout=30)
        if self.process.stderr is not None:
            self.stderr = (await self.process.stderr.read()).decode()
        return code

    async def kill(self) -> int:
        """SIGKILL: no cleanup of any kind."""
        return await self.signal(signal.SIGKILL)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client for the client API, with the bearer token."""
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {API_TOKEN}"}, **kwargs
        )


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Any, token: str = API_TOKEN) -> Samples:
    answer = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200, await answer.text()
    assert answer.headers["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(await answer.text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


async def notice_sent_by_the_other_app(web: Any, worker: Any, sink: Any) -> None:
    """A task created through `web` (which sends no notices) has its webhook notice sent by
    `worker`, an app on the same database (set up to look on its own only every 60 s)."""
    body = skyreels(notify=[{"channel": "webhook", "url": sink.url, "secret": sink.secret}])
    created = await (await web.post("/v1/tasks", json=body)).json()
    await wait_for_status(web, created["id"])
    deliveries = await wait_delivered(worker, created["id"], 1, timeout=20.0)
    assert [d["status"] for d in deliveries] == ["delivered"]
    assert len(sink.accepted) == 1
