"""GET /dashboard/events: task changes as server-sent events, from this process's event hub."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from receiver.dashboard.guard import secure
from receiver.dashboard.hub import EventHub
from receiver.dashboard.keys import HUB
from receiver.dashboard.session import read_session
from receiver.errors import error_body

KEEP_ALIVE = 15.0
STREAMS_PER_SESSION = 4  # a few tabs; past that a page left open in a loop cannot pile them up


async def close_streams(app: web.Application) -> None:
    """on_shutdown: end open event streams so the server can stop."""
    app[HUB].close()


async def events(request: web.Request) -> web.StreamResponse:
    """A text/event-stream of `task` events (the task as the API shows it, plus its prompt)."""
    session = await read_session(request)
    if session is None:
        raise web.HTTPUnauthorized(text="sign in at /dashboard/login")
    hub: EventHub = request.app[HUB]
    with hub.stream_of(session.sid, STREAMS_PER_SESSION) as room:
        if not room:
            message = (f"at most {STREAMS_PER_SESSION} live update streams per session are"
                       " open; close another dashboard tab")
            return web.json_response(error_body("too_many_streams", message),
                                     status=429, headers={"Retry-After": "10"})
        return await _stream(request, hub)


async def _stream(request: web.Request, hub: EventHub) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                 "X-Accel-Buffering": "no"}
    )
    secure(response)
    await response.prepare(request)
    with hub.subscribe() as queue:
        try:
            await response.write(b"retry: 2000\n\n")
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), KEEP_ALIVE)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if hub.is_closing(message):
                    break
                data = json.dumps(message, separators=(",", ":"))
                await response.write(f"event: task\ndata: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            return response
    return response
