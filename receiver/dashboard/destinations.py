"""The dashboard's destinations page: every registered destination by name, paused, resumed and
test-sent with a button (through the same store and test send as the client API)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from receiver import keys
from receiver.dashboard.guard import action, page, render
from receiver.dashboard.session import Session
from receiver.http.destinations import destination_of, store_call
from receiver.http.paging import known_params
from receiver.runtime.dispatching import SendResult, send_test_notice
from receiver.services.registered import destination_view


@page
async def destinations_page(request: web.Request, session: Session) -> web.StreamResponse:
    """GET /dashboard/destinations."""
    known_params(request.query, ())
    return await _render(request, session)


@action
async def pause(request: web.Request, session: Session, form: Any) -> web.StreamResponse:
    """POST /dashboard/destinations/{id}/pause."""
    found = await destination_of(request)
    await store_call(request.app[keys.STORE].destinations.change(found["id"], {"paused": 1}))
    raise web.HTTPSeeOther("/dashboard/destinations")


@action
async def resume(request: web.Request, session: Session, form: Any) -> web.StreamResponse:
    """POST /dashboard/destinations/{id}/resume: paused or disabled, it is sent to again."""
    found = await destination_of(request)
    await store_call(request.app[keys.STORE].destinations.resume(found["id"]))
    raise web.HTTPSeeOther("/dashboard/destinations")


@action
async def send_test(request: web.Request, session: Session, form: Any) -> web.StreamResponse:
    """POST /dashboard/destinations/{id}/test: send a test notice and say what became of it."""
    row = await destination_of(request)
    app = request.app
    sent = await send_test_notice(app[keys.SETTINGS], app[keys.SECRETS], app[keys.STORE], row)
    return await _render(request, session, tested=(row["name"], sent))


async def _render(
    request: web.Request, session: Session, tested: tuple[str, SendResult] | None = None
) -> web.StreamResponse:
    rows = await request.app[keys.STORE].destinations.all()
    return render(request, "destinations.html", session, nav="destinations",
                  destinations=[destination_view(row) for row in rows], tested=tested)

