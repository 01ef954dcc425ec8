"""Starting the dispatcher from reelhook's settings: in the web app and as `reelhook worker`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from dispatcher.alerts import AlertSender, AlertTarget
from dispatcher.attempts import scrub
from dispatcher.channels.email import SmtpConfig
from dispatcher.channels.registry import build_channels, url_check
from dispatcher.config import DispatchConfig
from dispatcher.errors import ConfigError, DestinationGone, DispatchError
from dispatcher.netguard import guarded_connector, host_and_port
from dispatcher.notice import sample_notice
from dispatcher.outgoing import outgoing_client
from dispatcher.worker import Worker
from receiver import keys
from receiver.errors import SettingsError
from receiver.providers import PROVIDER_NAMES
from receiver.runtime.gc_tuning import tune_for_long_life
from receiver.runtime.opening import open_for_service
from receiver.runtime.videos import keeper, video_links, video_store, video_wait
from receiver.services.counts import CountFolder
from receiver.services.loops import BackgroundLoops
from receiver.services.owner import process_owner
from receiver.services.retention import Pruner
from receiver.services.sealing import secret_box
from receiver.services.secrets import SecretBox, derived_alerts_secret
from receiver.settings import Settings
from store import TaskStore
from store.interface import DELIVERIES
from store.models import HealthPolicy


def dispatch_config(settings: Settings, secrets: SecretBox) -> DispatchConfig:
    """The dispatcher's configuration; SettingsError when the SMTP URL cannot be used."""
    smtp = None
    if settings.smtp_url and settings.email_from:
        try:
            smtp = SmtpConfig.from_url(settings.smtp_url, settings.email_from)
        except ConfigError as exc:
            raise SettingsError(f"REELHOOK_SMTP_URL: {exc}") from None
    return DispatchConfig(
        decrypt=secrets.decrypt,
        schedule=settings.retry_schedule,
        timeout=settings.delivery_timeout,
        slack_interval=settings.slack_min_interval,
        poll_interval=settings.dispatch_interval,
        smtp=smtp,
        allow_private=settings.allow_private_urls,
        trusted_urls=frozenset(filter(None, [settings.slack_webhook_url])),
        trusted_hosts=settings.trusted_hosts,
        video_links=video_links(settings) if video_wait(settings) is not None else None,
        per_destination=settings.sends_per_destination,
        health=HealthPolicy(
            disable_after=None if settings.disable_after_days is None
            else settings.disable_after_days * 86400.0,
            alerts=settings.alerts_to is not None,
        ),
    )


def alert_sender(
    settings: Settings, store: TaskStore, config: DispatchConfig
) -> AlertSender | None:
    """The sender of the operator's alerts, when REELHOOK_ALERTS_TO is set."""
    if settings.alerts_to is None:
        return None
    channel, address = settings.alerts_to
    secret = settings.alerts_secret or derived_alerts_secret(settings.secret_key)
    target = AlertTarget(channel, address, secret)
    return AlertSender(store.alerts, target, config, session_factory(settings), process_owner())


def start_alerts(settings: Settings, store: TaskStore, config: DispatchConfig,
                 loops: BackgroundLoops) -> None:
    """Send the operator's alerts beside the notice worker (when REELHOOK_ALERTS_TO is set)."""
    sender = alert_sender(settings, store, config)
    if sender is not None:
        loops.start("alerts", sender.run)


@dataclass(frozen=True)
class SendResult:
    """What became of a test notice: delivered or not, the answer's code, the error."""

    delivered: bool
    status_code: int | None
    error: str | None
    duration_ms: float


async def send_test_notice(
    settings: Settings, secrets: SecretBox, store: TaskStore, destination: Mapping[str, Any]
) -> SendResult:
    """Send a test notice to a registered destination now, as the worker would send a notice
    to it (the address guard on), within the delivery timeout; the outcome, never an exception.
    An answer saying the destination is gone (410) disables it, as it does for a notice."""
    config = dispatch_config(settings, secrets)
    target = json.loads(secrets.decrypt(destination["target"]))
    check = url_check(config.allow_private, config.trusted_urls, config.trusted_hosts)
    clock = time.monotonic()
    status_code, error, gone = None, None, None
    async with session_factory(settings)() as session:
        channels = build_channels(session, config.smtp, config.timeout, check)
        try:
            async with asyncio.timeout(config.timeout):
                status_code = await channels[destination["channel"]].send(
                    target, [sample_notice()])
        except TimeoutError:
            error = f"no answer within {config.timeout:g} s"
        except DispatchError as exc:
            status_code = getattr(exc, "status_code", None)
            error = scrub(str(exc) or type(exc).__name__, target)  # the answer may echo it
            gone = error if isinstance(exc, DestinationGone) else None
    duration_ms = round((time.monotonic() - clock) * 1000, 1)
    if gone is not None and destination["route_key"] is not None:
        await store.outbox.gone(destination["route_key"], destination["label"], gone,
                                time.time(), config.health)
    return SendResult(error is None, status_code, error, duration_ms)


def session_factory(settings: Settings) -> Callable[[], aiohttp.ClientSession]:
    """HTTP sessions for notices: they dial public addresses only, unless private URLs are
    allowed by REELHOOK_ALLOW_PRIVATE_URLS."""
    allow = settings.allow_private_urls
    # The operator's own Slack and alerts URLs are trusted as configured, like the providers'.
    own = [settings.slack_webhook_url, settings.alerts_to[1] if settings.alerts_to else None]
    trusted = [host_and_port(url) for url in own if url and "://" in url]
    trusted += settings.trusted_hosts
    return lambda: aiohttp.ClientSession(
        connector=guarded_connector(allow_private=allow, trusted=trusted)
    )


async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: run the outbox worker beside the web app (unless REELHOOK_WORKER or
    REELHOOK_BACKGROUND is off)."""
    settings = app[keys.SETTINGS]
    if not (settings.run_worker and settings.background):
        yield
        return
    config = dispatch_config(settings, app[keys.SECRETS])
    worker = Worker(
        app[keys.STORE].outbox, config, session_factory=session_factory(settings),
        wakeup=app[keys.WAKEUPS].notices,
    )
    loops = app[keys.LOOPS]
    loops.start("dispatcher", worker.run)
    start_alerts(settings, app[keys.STORE], config, loops)
    start_upkeep(settings, app[keys.STORE], loops)
    yield
    await loops.stop()


def start_upkeep(settings: Settings, store: TaskStore, loops: BackgroundLoops) -> None:
    """Beside the notice worker: fold the counts every few seconds, and prune old events,
    attempts and inbound messages hourly (unless REELHOOK_KEEP_DAYS is 0)."""
    loops.start("counts", CountFolder(store).run)
    if settings.keep_days is not None:
        loops.start("retention", Pruner(store, settings.keep_days).run)


async def run_worker(settings: Settings) -> None:
    """`reelhook worker`: the outbox worker alone, until interrupted or sent SIGTERM, when it
    hands back what it holds."""
    secrets = secret_box(settings)
    config = dispatch_config(settings, secrets)
    store = await open_for_service(settings, secrets)
    tune_for_long_life()
    worker = Worker(store.outbox, config, session_factory=session_factory(settings))
    # On PostgreSQL a notice queued by any process wakes this worker at once (LISTEN/NOTIFY).
    store.subscribe(DELIVERIES, lambda _: worker.wake())
    loops = BackgroundLoops()
    loops.start("dispatcher", worker.run)
    start_alerts(settings, store, config, loops)
    start_upkeep(settings, store, loops)
    task = asyncio.create_task(loops.wait())
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        async with _keeping_videos(settings, store, loops):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await loops.stop()
        await store.close()


@contextlib.asynccontextmanager
async def _keeping_videos(
    settings: Settings, store: TaskStore, loops: BackgroundLoops
) -> AsyncIterator[None]:
    """The worker process keeps videos too (when they are kept), until the block ends."""
    kept = video_store(settings)
    if kept is None:
        yield
        return
    hosts = [host_and_port(settings.provider(name).base_url) for name in PROVIDER_NAMES]
    hosts += settings.trusted_hosts
    async with outgoing_client(allow_private=settings.allow_private_urls, trusted=hosts,
                               connections=settings.provider_connections) as http:
        loops.start("video keeper", keeper(settings, store, kept, http, process_owner()).run)
        yield
        await loops.stop()  # before the HTTP client closes under a copy
