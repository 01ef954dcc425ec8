"""Client API for notices: each delivery with its attempts, dead ones, and redelivery."""

from __future__ import annotations

import time

from aiohttp import web

from receiver import keys
from receiver.errors import Conflict, NotFound
from receiver.http.body import refuse_any_body
from receiver.http.paging import (
    id_cursor,
    known_params,
    one_page,
    page_limit,
    path_id,
    query_choice,
)
from receiver.http.serializers import delivery_view
from store import DeliveryBusy, DeliveryNotFound, DeliveryStopped
from store.plans.outbox import DELIVERY_STATUSES
from store.rows import Delivery


async def task_deliveries(request: web.Request) -> web.Response:
    """GET /v1/tasks/{id}/deliveries: every notice of the task with its attempts."""
    known_params(request.query, ())
    task_id = request.match_info["task_id"]
    await request.app[keys.TASKS].get(task_id)
    rows = await request.app[keys.STORE].outbox.deliveries(task_id=task_id)
    return web.json_response({"deliveries": [delivery_view(row) for row in rows]})


async def list_deliveries(request: web.Request) -> web.Response:
    """GET /v1/deliveries?status=&limit=&cursor=, newest first."""
    known_params(request.query, ("status", "limit", "cursor"))
    status = query_choice(request.query.get("status"), "status", DELIVERY_STATUSES)
    limit = page_limit(request.query.get("limit"))
    before = id_cursor(request.query.get("cursor"))
    rows = await request.app[keys.STORE].outbox.deliveries(
        status=status, limit=limit + 1, before_id=before
    )
    page, next_cursor = one_page(rows, limit, lambda row: str(row["id"]))
    return web.json_response(
        {"deliveries": [delivery_view(row) for row in page], "next_cursor": next_cursor}
    )


async def redeliver(request: web.Request) -> web.Response:
    """POST /v1/deliveries/{id}/redeliver: send a delivered or dead notice again; 202."""
    await refuse_any_body(request)
    raw = request.match_info["delivery_id"]
    row = await redeliver_one(request.app, path_id(raw, "delivery"))
    return web.json_response(delivery_view(row), status=202)


async def redeliver_one(app: web.Application, delivery_id: int) -> Delivery:
    """Make a delivered or dead notice due again (the store announces it: the worker wakes);
    NotFound, or Conflict while it is under way or its destination is paused or deleted."""
    try:
        row = await app[keys.STORE].outbox.redeliver(delivery_id, time.time())
    except DeliveryNotFound as exc:
        raise NotFound(str(exc), field="id") from exc
    except (DeliveryBusy, DeliveryStopped) as exc:
        raise Conflict(str(exc)) from exc
    return row
