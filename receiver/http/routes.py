"""Every route of the API, callbacks and operator endpoints, in one table (the dashboard's own
pages are in receiver/dashboard/routes.py)."""

from __future__ import annotations

from aiohttp import web

from receiver.http import (
    costs,
    deliveries,
    destinations,
    inbound,
    metrics,
    openapi,
    tasks,
    videos,
)
from receiver.http.callbacks import providers, standard_webhooks
from receiver.metrics import observed_callback
from receiver.providers import PROVIDER_NAMES


def add_routes(app: web.Application) -> None:
    """Add every route to `app`."""
    app.router.add_get("/healthz", tasks.healthz)
    app.router.add_get("/openapi.json", openapi.openapi_json)
    app.router.add_post("/v1/tasks", tasks.create_task)
    app.router.add_get("/v1/tasks", tasks.list_tasks)
    app.router.add_get("/v1/tasks/{task_id}", tasks.get_task)
    app.router.add_get("/v1/tasks/{task_id}/events", tasks.task_events)
    app.router.add_post("/v1/tasks/{task_id}/cancel", tasks.cancel_task)
    app.router.add_get("/v1/tasks/{task_id}/video", videos.task_video)
    app.router.add_get("/v1/costs", costs.cost_totals)
    app.router.add_get("/v1/tasks/{task_id}/deliveries", deliveries.task_deliveries)
    app.router.add_get("/v1/deliveries", deliveries.list_deliveries)
    app.router.add_post("/v1/deliveries/{delivery_id}/redeliver", deliveries.redeliver)
    app.router.add_get("/v1/inbound", inbound.list_inbound)
    one = "/v1/destinations/{destination_id}"
    app.router.add_post("/v1/destinations", destinations.create_destination)
    app.router.add_get("/v1/destinations", destinations.list_destinations)
    app.router.add_get(one, destinations.get_destination)
    app.router.add_patch(one, destinations.change_destination)
    app.router.add_delete(one, destinations.delete_destination)
    app.router.add_post(f"{one}/pause", destinations.pause_destination)
    app.router.add_post(f"{one}/resume", destinations.resume_destination)
    app.router.add_post(f"{one}/test", destinations.send_test_to_destination)
    app.router.add_get("/metrics", metrics.metrics_endpoint)
    app.router.add_post("/callbacks/standard/{source}", standard_webhooks.standard_callback)
    callback = observed_callback(providers.provider_callback, PROVIDER_NAMES)
    app.router.add_post("/callbacks/{provider}/{task_id}", callback)
    app.router.add_post("/callbacks/{provider}/{task_id}/{token}", callback)
