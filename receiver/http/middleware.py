"""The edge: bearer-token auth for /v1 and domain errors turned into JSON answers.

One middleware does both (each middleware is another layer on every request, callbacks too).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from receiver import keys
from receiver.errors import (
    ApiError,
    Forbidden,
    NotFound,
    RangeNotSatisfiable,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    error_body,
)
from receiver.services.secrets import may, token_scope
from store import StoreFull, StoreReadOnly, StoreUnavailable, TaskNotFound, WriterStopped

log = logging.getLogger("reelhook.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /v1 route needs Authorization: Bearer <one of REELHOOK_API_TOKEN>; every error
    answer is {"error": {code, message, field}}; nothing leaks a traceback."""
    try:
        api = request.path.startswith("/v1/") or request.path == "/v1"
        if api and not _signed_video_link(request):
            _require_token(request)
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except TaskNotFound as exc:
        return error_response(NotFound(str(exc), field="id"))
    except StoreFull:
        log.error("refused %s %s: the database's disk is full", request.method, _route(request))
        return error_response(ServiceUnavailable(
            "storage is full: the disk holding the database has no space left; nothing was"
            " recorded; retry once space is freed"
        ))
    except StoreReadOnly as exc:
        return error_response(ServiceUnavailable(
            f"storage is read-only: {exc}; nothing was recorded; retry once it takes writes"
        ))
    except WriterStopped as exc:
        return error_response(ServiceUnavailable(f"storage has failed: {exc}; see /healthz"))
    except StoreUnavailable:
        return error_response(ServiceUnavailable("storage is busy; retry shortly"))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_exception(exc)
    except ConnectionResetError:
        # The peer hung up mid-request: nothing was acknowledged, there is nobody to answer.
        log.info("client went away during %s %s", request.method, _route(request))
        return web.Response(status=400, text="connection lost")
    except Exception:
        log.exception("unexpected error on %s %s", request.method, _route(request))
        return web.json_response(
            error_body("internal", "internal error; it has been logged"),
            status=500,
        )


def _require_token(request: web.Request) -> None:
    """The one place a /v1 request's token and its scope are checked."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    settings = request.app[keys.SETTINGS]
    scope = token_scope(token.strip(), settings.api_tokens, settings.read_tokens)
    if scheme.lower() != "bearer" or scope is None:
        wait = request.app[keys.AUTH_FAILURES].failed(request.remote or "?", "an API token")
        if wait:
            raise TooManyRequests(f"too many refused tokens from this address; try again in"
                                  f" {wait:.0f} s", retry_after=wait, field="Authorization")
        raise Unauthorized("send Authorization: Bearer <REELHOOK_API_TOKEN>", field="Authorization")
    if not may(scope, request.method):
        raise Forbidden(
            f"this token can only read (REELHOOK_READ_TOKENS); {request.method} needs one of"
            " REELHOOK_API_TOKEN", field="Authorization",
        )


def _signed_video_link(request: web.Request) -> bool:
    """True for GET /v1/tasks/{id}/video with a good signed link (dispatcher/links.py); a link
    that is signed but wrong, or expired, is refused here with the reason."""
    if "sig" not in request.query or request.method not in ("GET", "HEAD"):
        return False
    parts = request.path.split("/")
    if len(parts) != 5 or parts[1:3] != ["v1", "tasks"] or parts[4] != "video":
        return False
    problem = request.app[keys.VIDEO_LINKS].check(
        parts[3], request.query.get("expires", ""), request.query["sig"]
    )
    if problem is not None:
        raise Unauthorized(f"{problem}; ask for a new link, or send the API token", field="sig")
    return True


def _route(request: web.Request) -> str:
    """The route's pattern, not the path: callback paths carry per-task tokens."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def error_response(exc: ApiError) -> web.Response:
    """The JSON answer of an ApiError, with the headers its status calls for."""
    response = web.json_response(exc.body(), status=exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="reelhook"'
    if exc.status == 503:
        response.headers["Retry-After"] = "1"
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = f"{exc.retry_after:.0f}"
    if isinstance(exc, RangeNotSatisfiable):
        response.headers["Content-Range"] = f"bytes */{exc.size}"  # RFC 9110 15.5.17
    return response


def _http_exception(exc: web.HTTPException) -> web.Response:
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    messages = {
        404: "no such route; see the README for the API",
        405: "method not allowed on this route",
        413: "body too large",
    }
    response = web.json_response(
        error_body(codes.get(exc.status, "http_error"), messages.get(exc.status, exc.reason)),
        status=exc.status,
    )
    if exc.status == 405 and "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response
