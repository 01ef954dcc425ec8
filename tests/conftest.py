"""Fixtures: the real app on loopback, provider simulators as real servers, a temp DB, sinks.

Helpers that tests import live in tests/helpers.py.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dispatcher.netguard import host_and_port
from receiver.app import create_app
from receiver.sandbox.providers import (
    SIMULATORS,
    ApimartSimulator,
    LocalServer,
    OneminSimulator,
    PiapiSimulator,
    WaveSimulator,
)
from receiver.sandbox.sinks import MailSink, SlackSink, WebhookSink
from receiver.services.secrets import new_fernet_key
from receiver.settings import ProviderSettings, Settings, VideoSettings
from tests.databases import fresh_postgres
from tests.helpers import API_TOKEN, WEBHOOK_SECRET, StartApp, listening_socket, serving


@pytest.fixture
async def simulators() -> AsyncIterator[dict[str, Any]]:
    """One running simulator per provider, keyed by the adapter's name."""
    async with contextlib.AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(serving(simulator()))
            for name, simulator in SIMULATORS.items()
        }


@pytest.fixture
def piapi_sim(simulators: dict[str, Any]) -> PiapiSimulator:
    return simulators["piapi"]  # type: ignore[no-any-return]


@pytest.fixture
def wave_sim(simulators: dict[str, Any]) -> WaveSimulator:
    return simulators["wave"]  # type: ignore[no-any-return]


@pytest.fixture
def apimart_sim(simulators: dict[str, Any]) -> ApimartSimulator:
    return simulators["apimart"]  # type: ignore[no-any-return]


@pytest.fixture
def onemin_sim(simulators: dict[str, Any]) -> OneminSimulator:
    return simulators["onemin"]  # type: ignore[no-any-return]


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "reelhook.db")


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The one database fixture of the store and API tests: each test runs once on a temporary
    SQLite file and once on a fresh PostgreSQL database (see tests/databases.py)."""
    if request.param == "sqlite":
        yield str(tmp_path / "reelhook.db")
        return
    async with fresh_postgres() as url:
        yield url


@pytest.fixture
def app_socket() -> Iterator[socket.socket]:
    """The app's listening socket, bound to port 0 before the settings name its URL."""
    sock = listening_socket()
    yield sock
    sock.close()


@pytest.fixture
def settings(
    db_path: str, simulators: dict[str, Any], app_socket: socket.socket, tmp_path: Path
) -> Settings:
    port = int(app_socket.getsockname()[1])
    return Settings(
        api_tokens=(API_TOKEN,),
        secret_key=new_fernet_key().encode(),
        database=db_path,
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        providers={
            name: ProviderSettings(sim.api_key, sim.base_url) for name, sim in simulators.items()
        },
        provider_timeout=5.0,
        # The production setting: the address guard on. The simulators are trusted as provider
        # base URLs; the sinks a test uses are trusted by host and port (`trusted_peers`).
        allow_private_urls=False,
        # Beside the SQLite file by default; with PostgreSQL it would be the working directory.
        # Notices wait for a copy kept or failed: a copy failing for now (a provider's fake
        # video host) holds them one second here rather than REELHOOK_VIDEO_WAIT's minute.
        videos=VideoSettings(store=str(tmp_path / "kept-videos"), wait=1.0),
    )


@pytest.fixture
def trusted_peers() -> set[tuple[str, int]]:
    """The (host, port) of each loopback receiver this test uses (its sinks add themselves):
    the app starts with them in REELHOOK_TRUSTED_HOSTS, as an operator would list them."""
    return set()


@pytest.fixture
def start_app(
    settings: Settings, app_socket: socket.socket, trusted_peers: set[tuple[str, int]],
    aiohttp_client: Any,
) -> StartApp:
    """Start the real app on its configured port; keyword arguments override settings. The first
    start serves on the fixture's socket; a restart binds the same port again. (aiohttp_client
    comes last so that its servers stop before the socket fixture closes.)"""
    unused = [app_socket]

    async def start(**overrides: Any) -> TestClient[web.Request, web.Application]:
        trusted = settings.trusted_hosts | frozenset(trusted_peers)
        chosen = replace(settings, **{"trusted_hosts": trusted, **overrides})
        if unused and chosen.port == settings.port:
            sock = unused.pop()
        else:
            sock = listening_socket(chosen.port)
        server = TestServer(create_app(chosen), port=chosen.port,
                            socket_factory=lambda *_: sock)
        try:
            await server.start_server()  # before any client session exists
        except BaseException:  # the app refused to start: its socket goes with it
            sock.close()
            raise
        return await aiohttp_client(server, headers={"Authorization": f"Bearer {API_TOKEN}"})

    return start


@pytest.fixture
async def client(start_app: StartApp) -> TestClient[web.Request, web.Application]:
    return await start_app()


@pytest.fixture
async def slack_sink(trusted_peers: set[tuple[str, int]]) -> AsyncIterator[SlackSink]:
    sink = SlackSink()
    server = await LocalServer(sink.app()).start()
    sink.url = f"{server.url}/services/T0SINK/B0SINK/xoxSecretHookToken42"
    trusted_peers.add(host_and_port(sink.url))
    yield sink
    sink.release()
    await server.stop()


@pytest.fixture
async def webhook_sink(trusted_peers: set[tuple[str, int]]) -> AsyncIterator[WebhookSink]:
    sink = WebhookSink(WEBHOOK_SECRET)
    server = await LocalServer(sink.app()).start()
    sink.url = f"{server.url}/hooks/reelhook?key=privateQueryKey77"
    trusted_peers.add(host_and_port(sink.url))
    yield sink
    sink.release()
    await server.stop()


@pytest.fixture
async def mail_sink() -> AsyncIterator[MailSink]:
    sink = await MailSink().start()
    yield sink
    await sink.stop()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    """Say where the browser tests left their screenshots."""
    from tests.browser import artefacts_dir

    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return
    folder = artefacts_dir(factory.getbasetemp())
    shots = sorted(path.name for path in folder.glob("*.png"))
    if shots:
        terminalreporter.write_line(f"browser screenshots ({len(shots)}) in {folder}")
