"""The app factory: routes, middlewares, and every resource in cleanup_ctx."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from dispatcher.netguard import host_and_port
from dispatcher.outgoing import outgoing_client
from receiver import keys
from receiver.dashboard.keys import HUB
from receiver.dashboard.routes import setup_dashboard
from receiver.http import metrics as metrics_api
from receiver.http.access import access_middleware
from receiver.http.middleware import edge_middleware
from receiver.http.routes import add_routes
from receiver.providers import PROVIDER_NAMES
from receiver.providers.base import ProviderConfig
from receiver.providers.registry import build_providers
from receiver.runtime import dispatching, videos
from receiver.runtime.opening import open_for_service
from receiver.services.auth_failures import FailedAuth
from receiver.services.callback_slots import Slots
from receiver.services.known_tasks import KnownTasks
from receiver.services.loops import BackgroundLoops
from receiver.services.poller import Poller
from receiver.services.sealing import secret_box
from receiver.services.tasks import TaskService
from receiver.services.wakeups import Wakeups
from receiver.settings import Settings
from store.interface import DELIVERIES, SLOTS


def create_app(settings: Settings) -> web.Application:
    """The reelhook web application for these settings."""
    app = web.Application(
        middlewares=[access_middleware, edge_middleware],
        client_max_size=max(settings.max_submit_bytes, settings.max_callback_bytes,
                            settings.max_inbound_bytes),
    )
    app[keys.SETTINGS] = settings
    app[keys.SECRETS] = secret_box(settings)
    app[keys.CALLBACK_SLOTS] = Slots(settings.max_concurrent_callbacks)
    app[keys.KNOWN_TASKS] = KnownTasks()
    app[keys.WAKEUPS] = Wakeups()
    app[keys.VIDEO_LINKS] = videos.video_links(settings)
    app[keys.LOOPS] = BackgroundLoops()
    app[keys.AUTH_FAILURES] = FailedAuth()
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_services_ctx)
    app.cleanup_ctx.append(dispatching.worker_ctx)
    app.cleanup_ctx.append(_loops_ctx)
    app.cleanup_ctx.append(metrics_api.metrics_ctx)
    add_routes(app)
    setup_dashboard(app)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    # Changes made by other processes (PostgreSQL) reach this process's live view too.
    store = await open_for_service(settings, app[keys.SECRETS], app[HUB].publish)
    app[keys.STORE] = store
    # Commits announce themselves (on PostgreSQL to every process, by LISTEN/NOTIFY): notices
    # queued anywhere wake this process's dispatcher, a slot freed anywhere its submit queue.
    wakeups = app[keys.WAKEUPS]
    store.subscribe(DELIVERIES, lambda _: wakeups.notices.set())
    store.subscribe(SLOTS, lambda _: wakeups.slots.set())
    yield
    await store.close()


async def _services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    base_urls = [settings.provider(name).base_url for name in PROVIDER_NAMES]
    # The providers' hosts are trusted as configured, and so are REELHOOK_TRUSTED_HOSTS.
    provider_hosts = {host_and_port(url) for url in base_urls} | settings.trusted_hosts
    # One pool per provider: ten 1min.ai calls of minutes each leave PiAPI's connections free.
    client = outgoing_client(allow_private=settings.allow_private_urls, trusted=provider_hosts,
                             own_pools=base_urls, connections=settings.provider_connections)
    # Video downloads have a pool of their own too (a provider's CDN or a user's host).
    downloads = outgoing_client(allow_private=settings.allow_private_urls, trusted=provider_hosts,
                                connections=settings.provider_connections)
    async with client as http, downloads:
        app[keys.HTTP] = http
        providers = build_providers(_provider_configs(settings))
        app[keys.PROVIDERS] = providers
        app[keys.TASKS] = TaskService(
            app[keys.STORE], providers, http, app[keys.SECRETS], settings, app[keys.WAKEUPS],
            on_change=app[HUB].publish,
        )
        kept = videos.video_store(settings)
        if kept is not None:
            app[keys.VIDEO_STORE] = kept
            owner = app[keys.TASKS].queue.owner
            app[keys.KEEPER] = videos.keeper(
                settings, app[keys.STORE], kept, downloads, owner, app[keys.WAKEUPS].videos
            )
        yield


async def _loops_ctx(app: web.Application) -> AsyncIterator[None]:
    """The submit queue (after failing sends whose lease ran out), the poller and the video
    keeper; none with REELHOOK_BACKGROUND=off (then `reelhook tick` does their work on a
    schedule)."""
    service = app[keys.TASKS]
    if not app[keys.SETTINGS].background:
        yield
        await service.queue.close()
        return
    await service.queue.fail_interrupted()
    loops = app[keys.LOOPS]
    loops.start("submit queue", service.queue.run)
    loops.start("poller", Poller(service, app[keys.SETTINGS]).run)
    if (keeper := app.get(keys.KEEPER)) is not None:
        loops.start("video keeper", keeper.run)
    yield
    await loops.stop()  # the dispatcher's loop too, started in an earlier cleanup_ctx
    await service.queue.close()


def _provider_configs(settings: Settings) -> dict[str, ProviderConfig]:
    return {
        name: ProviderConfig(
            base_url=settings.provider(name).base_url,
            api_key=settings.provider(name).api_key or "",
            timeout=settings.provider_timeout,
            long_timeout=settings.onemin_timeout,
        )
        for name in PROVIDER_NAMES
    }
