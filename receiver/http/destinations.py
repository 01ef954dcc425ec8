"""Client API for registered destinations: register, list, read, change, pause, resume, delete
and send a test notice."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from receiver import keys
from receiver.errors import Conflict, NotFound
from receiver.http.body import decode_json, read_limited, refuse_any_body, refuse_other_media
from receiver.http.paging import known_params, path_id
from receiver.providers import PROVIDER_NAMES
from receiver.runtime.dispatching import send_test_notice
from receiver.services.destinations import SETTINGS
from receiver.services.registered import destination_view, parse_change, parse_new
from store import DestinationNameTaken, DestinationNotFound

MAX_BODY = 64 * 1024
# What an operator may change on a destination the settings made (the rest is the settings').
SETTINGS_MAY_CHANGE = {"paused"}


async def create_destination(request: web.Request) -> web.Response:
    """POST /v1/destinations: 201 with the destination (a webhook's new secret, once)."""
    body = await _body(request)
    app = request.app
    providers = PROVIDER_NAMES
    made, secret = parse_new(body, app[keys.SETTINGS], app[keys.SECRETS], providers)
    try:
        row = await app[keys.STORE].destinations.register(made)
    except DestinationNameTaken as exc:
        raise Conflict(str(exc), field="name") from exc
    return web.json_response(destination_view(row, secret), status=201)


async def list_destinations(request: web.Request) -> web.Response:
    """GET /v1/destinations: every registered destination, by name."""
    known_params(request.query, ())
    rows = await request.app[keys.STORE].destinations.all()
    return web.json_response({"destinations": [destination_view(row) for row in rows]})


async def get_destination(request: web.Request) -> web.Response:
    """GET /v1/destinations/{id}."""
    return web.json_response(destination_view(await destination_of(request)))


async def change_destination(request: web.Request) -> web.Response:
    """PATCH /v1/destinations/{id}: change its name, address, secret, filters or pause."""
    body = await _body(request)
    current = await destination_of(request)
    app = request.app
    if current["managed_by"] == SETTINGS and isinstance(body, dict):
        _refuse_settings_change(current, set(body) - SETTINGS_MAY_CHANGE)
    changes = parse_change(body, current, app[keys.SETTINGS], app[keys.SECRETS],
                           PROVIDER_NAMES)
    row = await _change(request, current["id"], changes)
    if changes.get("paused") == 0 and current["disabled_reason"] is not None:
        row = await app[keys.STORE].destinations.resume(current["id"])  # by hand, as /resume
    return web.json_response(destination_view(row))


async def pause_destination(request: web.Request) -> web.Response:
    """POST /v1/destinations/{id}/pause: send it nothing (its waiting notices end) until it is
    resumed."""
    await refuse_any_body(request)
    current = await destination_of(request)
    return web.json_response(destination_view(await _change(request, current["id"],
                                                            {"paused": 1})))


async def resume_destination(request: web.Request) -> web.Response:
    """POST /v1/destinations/{id}/resume: send to it again, paused or disabled."""
    await refuse_any_body(request)
    current = await destination_of(request)
    row = await request.app[keys.STORE].destinations.resume(current["id"])
    return web.json_response(destination_view(row))


async def delete_destination(request: web.Request) -> web.Response:
    """DELETE /v1/destinations/{id}: 204; its deliveries' history stays."""
    await refuse_any_body(request)
    current = await destination_of(request)
    if current["managed_by"] == SETTINGS:
        _refuse_settings_change(current, {"id"})
    await store_call(request.app[keys.STORE].destinations.delete(current["id"]))
    return web.Response(status=204)


async def send_test_to_destination(request: web.Request) -> web.Response:
    """POST /v1/destinations/{id}/test: send a test notice now; 200 with what became of it."""
    await refuse_any_body(request)
    current = await destination_of(request)
    app = request.app
    sent = await send_test_notice(app[keys.SETTINGS], app[keys.SECRETS], app[keys.STORE],
                                  current)
    return web.json_response(dataclasses.asdict(sent))


async def _body(request: web.Request) -> Any:
    refuse_other_media(request)
    return decode_json(await read_limited(request, MAX_BODY))


async def destination_of(request: web.Request) -> dict[str, Any]:
    """The registered destination the path names; NotFound."""
    destination_id = path_id(request.match_info["destination_id"], "destination")
    found: dict[str, Any] = await store_call(
        request.app[keys.STORE].destinations.get(destination_id)
    )
    return found


async def _change(request: web.Request, destination_id: int, changes: dict[str, Any]) -> Any:
    return await store_call(request.app[keys.STORE].destinations.change(destination_id, changes))


async def store_call(call: Any) -> Any:
    """The store's answer, its destination errors as API errors."""
    try:
        return await call
    except DestinationNotFound as exc:
        raise NotFound(str(exc), field="id") from exc
    except DestinationNameTaken as exc:
        raise Conflict(str(exc), field="name") from exc


def _refuse_settings_change(current: dict[str, Any], fields: set[str]) -> None:
    if fields:
        raise Conflict(
            f"destination {current['name']!r} is made from the settings"
            " (REELHOOK_SLACK_WEBHOOK_URL, REELHOOK_EMAIL_TO, REELHOOK_NOTIFY_ON): change those;"
            " here it can only be paused and resumed", field=sorted(fields)[0],
        )
