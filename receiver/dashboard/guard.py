"""What every dashboard request goes through: the session, CSRF on forms, security headers,
and domain errors rendered as pages instead of JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from receiver.dashboard.keys import TEMPLATES
from receiver.dashboard.session import Session, csrf_ok, read_session
from receiver.errors import ApiError

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " media-src http: https:; connect-src 'self'; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
Page = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]
Action = Callable[[web.Request, Session, Any], Awaitable[web.StreamResponse]]


def secure(response: web.StreamResponse) -> web.StreamResponse:
    """Add the dashboard's security headers to a response."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def render(
    request: web.Request, template: str, session: Session | None, code: int = 200,
    **context: Any,
) -> web.Response:
    """A page from a template (autoescaped), with the security headers."""
    context.setdefault("nav", "")
    text = request.app[TEMPLATES].render(template, {"session": session, **context})
    response = web.Response(text=text, status=code, content_type="text/html")
    secure(response)
    return response


def page(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A page for signed-in operators; others are sent to the sign-in form."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        session = await read_session(request)
        if session is None:
            raise web.HTTPSeeOther(f"/dashboard/login?next={quote(request.path_qs)}")
        try:
            return secure(await handler(request, session))
        except ApiError as exc:
            return render(request, "error.html", session, code=exc.status,
                          message=exc.message)

    return guarded


def action(handler: Action) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A state-changing form post: a session and the form's CSRF token are required."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        session = await read_session(request)
        if session is None:
            return render(request, "error.html", None, code=401,
                          message="Your session has ended; sign in again.")
        if session.read_only and request.path != "/dashboard/logout":
            return render(request, "error.html", session, code=403,
                          message="You signed in with a read-only token (REELHOOK_READ_TOKENS):"
                          " this dashboard shows, but does not change anything.")
        form = await request.post()
        if not csrf_ok(session.csrf, form.get("csrf")):
            return render(request, "error.html", session, code=403,
                          message="This form has expired or did not come from this dashboard"
                          " (CSRF token missing or wrong). Reload the page and try again.")
        try:
            return secure(await handler(request, session, form))
        except ApiError as exc:
            return render(request, "error.html", session, code=exc.status,
                          message=exc.message)

    return guarded
