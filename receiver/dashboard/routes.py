"""The dashboard's routes, templates, static files and event hub, added to the app."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from receiver import keys
from receiver.dashboard import actions, destinations, live, pages
from receiver.dashboard.hub import EventHub
from receiver.dashboard.keys import HUB, TEMPLATES
from receiver.dashboard.templating import Templates

HERE = Path(__file__).parent


def setup_dashboard(app: web.Application) -> None:
    """Templates (autoescaped), routes, static files and the live event hub."""
    app[TEMPLATES] = Templates(HERE / "templates")
    app[HUB] = EventHub(app[keys.VIDEO_LINKS])
    app.on_shutdown.append(live.close_streams)
    routes = app.router
    routes.add_get("/dashboard", _home)
    routes.add_get("/dashboard/login", actions.login_form)
    routes.add_post("/dashboard/login", actions.login)
    routes.add_post("/dashboard/logout", actions.logout)
    routes.add_get("/dashboard/tasks", pages.tasks_page)
    routes.add_get("/dashboard/tasks/{task_id}", pages.task_page)
    routes.add_post("/dashboard/tasks/{task_id}/cancel", actions.cancel)
    routes.add_get("/dashboard/deliveries", pages.deliveries_page)
    routes.add_post("/dashboard/deliveries/redeliver", actions.redeliver_all)
    routes.add_post("/dashboard/deliveries/{delivery_id}/redeliver", actions.redeliver)
    routes.add_get("/dashboard/destinations", destinations.destinations_page)
    routes.add_post("/dashboard/destinations/{destination_id}/pause", destinations.pause)
    routes.add_post("/dashboard/destinations/{destination_id}/resume", destinations.resume)
    routes.add_post("/dashboard/destinations/{destination_id}/test", destinations.send_test)
    routes.add_get("/dashboard/costs", pages.costs_page)
    routes.add_get("/dashboard/inbound", pages.inbound_page)
    routes.add_get("/dashboard/events", live.events)
    routes.add_static("/dashboard/static", HERE / "static")


async def _home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/dashboard/tasks")
