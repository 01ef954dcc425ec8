"""The app factory: routes, middlewares, and every resource in cleanup_ctx."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from dispatcher.netguard import host_and_port, outgoing_client
from receiver import (
    api,
    callbacks,
    costs,
    deliveries_api,
    dispatching,
    inbound,
    inbound_api,
    keys,
    metrics_api,
    openapi,
)
from receiver.dashboard.routes import setup_dashboard
from receiver.known_tasks import KnownTasks
from receiver.metrics import observed_callback
from receiver.middleware import edge_middleware
from receiver.poller import Poller
from receiver.providers import PROVIDER_NAMES, build_providers
from receiver.providers.base import ProviderConfig
from receiver.secrets import SecretBox
from receiver.settings import Settings
from receiver.slots import Slots
from receiver.tasks import TaskService
from receiver.wakeups import Wakeups
from store import open_store
from store.interface import DELIVERIES, SLOTS


def create_app(settings: Settings) -> web.Application:
    """The reelhook web application for these settings."""
    app = web.Application(
        middlewares=[edge_middleware],
        client_max_size=max(settings.max_submit_bytes, settings.max_callback_bytes),
    )
    app[keys.SETTINGS] = settings
    app[keys.SECRETS] = SecretBox(settings.secret_key)
    app[keys.CALLBACK_SLOTS] = Slots(settings.max_concurrent_callbacks)
    app[keys.KNOWN_TASKS] = KnownTasks()
    app[keys.WAKEUPS] = Wakeups()
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_services_ctx)
    app.cleanup_ctx.append(dispatching.worker_ctx)
    app.cleanup_ctx.append(_loops_ctx)
    app.cleanup_ctx.append(metrics_api.metrics_ctx)
    _add_routes(app)
    setup_dashboard(app)
    return app


def _add_routes(app: web.Application) -> None:
    """Every route of the API, callbacks and operator endpoints (the dashboard's own pages are
    in receiver/dashboard/routes.py)."""
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/openapi.json", openapi.openapi_json)
    app.router.add_post("/v1/tasks", api.create_task)
    app.router.add_get("/v1/tasks", api.list_tasks)
    app.router.add_get("/v1/tasks/{task_id}", api.get_task)
    app.router.add_get("/v1/tasks/{task_id}/events", api.task_events)
    app.router.add_post("/v1/tasks/{task_id}/cancel", api.cancel_task)
    app.router.add_get("/v1/costs", costs.cost_totals)
    app.router.add_get("/v1/tasks/{task_id}/deliveries", deliveries_api.task_deliveries)
    app.router.add_get("/v1/deliveries", deliveries_api.list_deliveries)
    app.router.add_post("/v1/deliveries/{delivery_id}/redeliver", deliveries_api.redeliver)
    app.router.add_get("/v1/inbound", inbound_api.list_inbound)
    app.router.add_get("/metrics", metrics_api.metrics_endpoint)
    app.router.add_post("/callbacks/standard/{source}", inbound.standard_callback)
    callback = observed_callback(
        callbacks.provider_callback, callbacks.DUPLICATE_ANSWER, PROVIDER_NAMES
    )
    app.router.add_post("/callbacks/{provider}/{task_id}", callback)
    app.router.add_post("/callbacks/{provider}/{task_id}/{token}", callback)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    store = await open_store(
        settings.database,
        notify_on=settings.notify_on,
        busy_timeout=settings.db_busy_timeout,
        pool_size=settings.db_pool_size,
        migrate=False,
        # Changes made by other processes (PostgreSQL) reach this process's live view too.
        on_other_change=app[keys.HUB].publish,
    )
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
    provider_hosts = {host_and_port(settings.provider(name).base_url) for name in PROVIDER_NAMES}
    client = outgoing_client(allow_private=settings.allow_private_urls, trusted=provider_hosts)
    async with client as http:
        app[keys.HTTP] = http
        providers = build_providers(_provider_configs(settings))
        app[keys.PROVIDERS] = providers
        app[keys.TASKS] = TaskService(
            app[keys.STORE], providers, http, app[keys.SECRETS], settings, app[keys.WAKEUPS],
            on_change=app[keys.HUB].publish,
        )
        yield


async def _loops_ctx(app: web.Application) -> AsyncIterator[None]:
    """The submit queue (after failing sends whose lease ran out) and the poller; neither with
    REELHOOK_BACKGROUND=off (then `reelhook tick` does their work on a schedule)."""
    service = app[keys.TASKS]
    if not app[keys.SETTINGS].background:
        yield
        await service.queue.close()
        return
    async with service.queue.running(), Poller(service, app[keys.SETTINGS]).running():
        yield


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
