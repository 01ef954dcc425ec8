"""Malformed HTTP answered in the API's shape, and the server loop of `reelhook serve`.

aiohttp's parser refuses a request before any middleware sees it (a header over 8190 bytes, a
broken request line) and answers through `RequestHandler.handle_error`: plain text that repeats
the offending bytes, plus an ERROR traceback per request. `JsonErrorHandler` answers those with
the JSON error shape instead (431 for headers too large, else 400), echoes nothing and logs one
short line. `serve` runs the app on a socket bound beforehand, with that handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from receiver.errors import error_body
from receiver.runtime.event_loops import new_loop

log = logging.getLogger("reelhook.http")


class JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering requests its parser refused as JSON."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """JSON 431/400 for malformed requests; aiohttp's own handling for anything else."""
        if not isinstance(exc, BadHttpMessage):
            return super().handle_error(request, status, exc, message)
        too_large = isinstance(exc, LineTooLong) or "too many headers" in str(exc).lower()
        status, code, text = (
            (431, "headers_too_large", "request line or headers too large (at most 8190 bytes"
             " each)") if too_large
            else (400, "bad_request", "malformed HTTP request")
        )
        log.warning("refused malformed HTTP from %s: %s (%d)", request.remote,
                    type(exc).__name__, status)
        response = web.json_response(error_body(code, text), status=status)
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """aiohttp's Server, with JsonErrorHandler for every connection."""

    def __call__(self) -> RequestHandler:
        return JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorRunner(web.AppRunner):
    """An AppRunner whose server answers malformed HTTP as JSON."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return JsonErrorServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )


def serve(
    app: web.Application,
    sock: socket.socket,
    ready: Callable[[], None],
    event_loop: str,
    **runner_args: Any,
) -> None:
    """Run the app on a bound socket, on an event loop of the kind `event_loop` names, until
    SIGINT or SIGTERM, then clean up (like run_app); `ready` is called once it serves (and
    SIGTERM stops it cleanly)."""
    loop = new_loop(event_loop)
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, sock, ready, runner_args))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not main.done():
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _serve(
    app: web.Application, sock: socket.socket, ready: Callable[[], None],
    runner_args: dict[str, Any],
) -> None:
    runner = JsonErrorRunner(app, handle_signals=True, **runner_args)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        ready()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
