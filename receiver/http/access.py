"""The access log and HTTP metrics: one INFO line per request on `reelhook.access` (method,
route template, status, milliseconds, and the task id when the route has one) and a duration
histogram by route, method and status. The path itself is never logged: callback paths carry
per-task tokens and video links their signatures; neither are headers, tokens or bodies."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import Histogram

from receiver.metrics import HTTP_REQUEST_SECONDS

log = logging.getLogger("reelhook.access")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NO_ROUTE = "(no route)"
# The task a request made (POST /v1/tasks), for its line: its path names none.
MADE_TASK = web.RequestKey("made_task", str)
# The histogram's children by (route, method, status), looked up once each: labels() costs as
# much as the observation. Routes are templates and statuses few; the cap bounds the rest.
_TIMERS: dict[tuple[str, str, int], Histogram] = {}
MAX_TIMERS = 2000


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time the request, then log and count it (a handler's own exception is counted 500)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        _record(request, status, time.perf_counter() - started)


def _record(request: web.Request, status: int, seconds: float) -> None:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else NO_ROUTE
    _timer(route, request.method, status).observe(seconds)
    if log.isEnabledFor(logging.INFO):
        task_id = request.match_info.get("task_id") or request.get(MADE_TASK)
        extra = {"route": route, "method": request.method, "status": status,
                 "duration_ms": round(seconds * 1000, 1)}
        if task_id:
            extra["task_id"] = task_id[:64]
        log.info("%s %s %d %.1f ms%s", request.method, route, status, seconds * 1000,
                 f" task {task_id[:64]}" if task_id else "", extra=extra)


def _timer(route: str, method: str, status: int) -> Histogram:
    key = (route, method, status)
    timer = _TIMERS.get(key)
    if timer is None:
        timer = HTTP_REQUEST_SECONDS.labels(route, method, str(status))
        if len(_TIMERS) < MAX_TIMERS:
            _TIMERS[key] = timer
    return timer
