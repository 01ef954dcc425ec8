"""The dashboard's forms: sign in and out, cancel a task, redeliver notices."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from dispatcher.channels import CHANNEL_NAMES
from receiver import keys
from receiver.dashboard.guard import action, render
from receiver.dashboard.pages import matching, render_task
from receiver.dashboard.session import (
    Session,
    csrf_ok,
    end_session,
    login_csrf,
    read_session,
    remember_login,
    start_session,
)
from receiver.errors import Conflict, Unprocessable
from receiver.http.deliveries import redeliver_one
from receiver.http.paging import path_id, query_choice
from receiver.services.secrets import token_scope
from store.plans.outbox import REDELIVERABLE


async def login_form(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/login."""
    next_path = _next(request.query.get("next"))
    if await read_session(request) is not None:
        raise web.HTTPSeeOther(next_path)
    csrf, fresh = login_csrf(request)
    response = _login_page(request, next_path, csrf)
    if fresh is not None:
        remember_login(request, response, fresh)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    """POST /dashboard/login: an API token opens a session."""
    form = await request.post()
    next_path = _next(form.get("next"))
    csrf, fresh = login_csrf(request)
    if fresh is not None or not csrf_ok(csrf, form.get("csrf")):
        response = _login_page(request, next_path, csrf, status=403,
                               problem="The sign-in form expired; try again.")
        if fresh is not None:
            remember_login(request, response, fresh)
        return response
    token = form.get("token")
    settings = request.app[keys.SETTINGS]
    if not isinstance(token, str) or token_scope(
        token.strip(), settings.api_tokens, settings.read_tokens
    ) is None:
        wait = request.app[keys.AUTH_FAILURES].failed(request.remote or "?", "a sign-in")
        if wait:
            response = _login_page(request, next_path, csrf, status=429,
                                   problem=f"Too many refused sign-ins from this address; try"
                                   f" again in {wait:.0f} s.")
            response.headers["Retry-After"] = f"{wait:.0f}"
            return response
        return _login_page(request, next_path, csrf, status=401,
                           problem="That is not one of this server's API tokens.")
    response = web.HTTPSeeOther(next_path)
    start_session(request, response, token.strip())
    raise response


@action
async def logout(request: web.Request, session: Session, form: Any) -> web.StreamResponse:
    """POST /dashboard/logout."""
    response = web.HTTPSeeOther("/dashboard/login")
    await end_session(request, session, response)
    raise response


@action
async def cancel(request: web.Request, session: Session, form: Any) -> web.StreamResponse:
    """POST /dashboard/tasks/{id}/cancel through the task service, as the API does."""
    task_id = request.match_info["task_id"]
    try:
        await request.app[keys.TASKS].cancel(task_id)
    except Conflict as exc:
        return await render_task(request, session, status=409, problem=exc.message)
    raise web.HTTPSeeOther(f"/dashboard/tasks/{task_id}")


@action
async def redeliver(request: web.Request, session: Session, form: Any) -> web.StreamResponse:
    """POST /dashboard/deliveries/{id}/redeliver; back to where the button was."""
    delivery_id = path_id(request.match_info["delivery_id"], "delivery")
    row = await redeliver_one(request.app, delivery_id)
    back = form.get("back")
    raise web.HTTPSeeOther(_back(back, f"/dashboard/tasks/{row['task_id']}"))


@action
async def redeliver_all(request: web.Request, session: Session, form: Any) -> web.StreamResponse:
    """POST /dashboard/deliveries/redeliver: every dead (or delivered) notice of a channel."""
    status = form.get("status") or "dead"
    if status not in REDELIVERABLE:
        raise Unprocessable("status must be dead or delivered", field="status")
    channel = query_choice(form.get("channel"), "channel", CHANNEL_NAMES)
    rows = await matching(request.app[keys.STORE].outbox, status, channel, None)
    count = 0
    for row in rows:
        with contextlib.suppress(Conflict):  # sent meanwhile, or its destination is paused
            await redeliver_one(request.app, int(row["id"]))
            count += 1
    query = f"?redelivered={count}" + (f"&channel={channel}" if channel else "")
    raise web.HTTPSeeOther(f"/dashboard/deliveries{query}")


def _login_page(
    request: web.Request, next_path: str, csrf: str, status: int = 200,
    problem: str | None = None,
) -> web.Response:
    return render(request, "login.html", None, code=status, next=next_path, csrf=csrf,
                  problem=problem)


def _next(value: object) -> str:
    """Only a dashboard path is a place to go after sign-in (no open redirect)."""
    return _back(value, "/dashboard/tasks")


def _back(value: object, default: str) -> str:
    if isinstance(value, str) and value.startswith("/dashboard") and "//" not in value:
        return value
    return default
