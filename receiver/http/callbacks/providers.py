"""Provider callbacks: verify first, then read, parse, record, and answer 2xx only once committed.

The secret's tag is checked before the body is read or anything is written, so forged callbacks
are refused at the cost of one HMAC (and, once per task, a read saying whether it exists: 404 for
no such task, else 401); verified ones then share a bounded number of slots.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any, NoReturn

from aiohttp import web

from receiver import keys
from receiver.errors import BadRequest, NotFound, ServiceUnavailable, Unauthorized
from receiver.http.body import OFF_LOOP_BYTES, read_limited, refuse_other_media
from receiver.metrics import CALLBACK_OUTCOME
from receiver.providers.base import Provider, Report
from receiver.providers.errors import MalformedCallback
from receiver.services.callback_slots import Slots
from receiver.services.off_loop import off_loop
from store import TaskNotFound
from store.models import is_task_id

# The two answers, encoded once (keyed by "was it recorded").
_ANSWERS = {new: json.dumps({"ok": True, "duplicate": not new}).encode() for new in (True, False)}


async def provider_callback(request: web.Request) -> web.Response:
    """POST /callbacks/{provider}/{task_id}[/{token}]."""
    provider = _callback_provider(request)
    task_id = request.match_info["task_id"]
    presented = provider.presented_secret(request.headers, request.match_info.get("token"))
    # The secret already verified for this task, or else the tag: no database work before it.
    task = request.app[keys.KNOWN_TASKS].vouched(task_id, presented)
    if task is None and not request.app[keys.SECRETS].vouches(task_id, presented):
        await _refuse_forged(request.app, task_id)
    slots = _callback_slot(request.app)
    try:
        return await _record(request, provider, task_id, presented, task)
    finally:
        slots.give_back()


def _callback_slot(app: web.Application) -> Slots:
    """One of REELHOOK_MAX_CONCURRENT_CALLBACKS slots for database work, taken (the caller gives
    it back); 503 when none is free. Not a generator context manager: this runs for every
    callback, and one costs ~2 % of a callback's CPU."""
    slots = app[keys.CALLBACK_SLOTS]
    if not slots.take():
        raise ServiceUnavailable("too many callbacks in progress; retry shortly")
    return slots


def _callback_provider(request: web.Request) -> Provider:
    provider = request.app[keys.PROVIDERS].get(request.match_info["provider"])
    if provider is None or not provider.supports_callbacks:
        raise NotFound("no such provider callback route")
    return provider


async def _record(
    request: web.Request,
    provider: Provider,
    task_id: str,
    presented: str | None,
    task: Mapping[str, Any] | None,
) -> web.Response:
    app = request.app
    refuse_other_media(request)
    body = await read_limited(request, app[keys.SETTINGS].max_callback_bytes)
    if task is None:
        task = await _verified_task(app, task_id, presented)
    if task["provider"] != provider.name:
        raise Unauthorized("callback secret does not match this task")
    try:
        report = await _read(provider, body)
    except MalformedCallback as exc:
        raise BadRequest(f"malformed callback: {exc}") from exc
    known = task["provider_task_id"]
    if known and report.provider_task_id and report.provider_task_id != known:
        raise BadRequest("callback is about another task than the one this address belongs to")
    recorded = await app[keys.TASKS].apply_callback(task, provider, report)
    request[CALLBACK_OUTCOME] = "recorded" if recorded else "duplicate"
    return web.Response(body=_ANSWERS[recorded], content_type="application/json")


async def _read(provider: Provider, body: bytes) -> Report:
    """The provider's reading of a callback; a large one (a PiAPI task echoing a base64 image
    it was sent) is read in a large-input thread, not on the event loop."""
    if len(body) > OFF_LOOP_BYTES:
        return await off_loop(functools.partial(provider.read_callback, body))
    return provider.read_callback(body)


async def _refuse_forged(app: web.Application, task_id: str) -> NoReturn:
    """Refuse a callback whose secret fails: 404 when there is no such task (at once for an id
    no task could have), else 401. Whether a task exists is remembered both ways (ids are
    random, and a task is recorded before any provider hears of it), so a flood of forged
    callbacks reads each task id once, and that read takes a callback slot."""
    known = app[keys.KNOWN_TASKS]
    exists = known.exists(task_id) if is_task_id(task_id) else False
    if exists is None:
        exists = await _look_up(app, task_id)
        known.note_existence(task_id, exists)
    if not exists:
        raise NotFound(f"no task with id {task_id!r}")
    raise Unauthorized("callback secret does not match this task")


async def _look_up(app: web.Application, task_id: str) -> bool:
    """Whether the task exists (its fields remembered if so), read in a callback slot."""
    slots = _callback_slot(app)
    try:
        app[keys.KNOWN_TASKS].remember(await _task_fields(app, task_id))
        return True
    except NotFound:
        return False
    finally:
        slots.give_back()


async def _task_fields(app: web.Application, task_id: str) -> Mapping[str, Any]:
    """The task's unchanging fields, from memory once known, else from the database; NotFound
    when there is no such task."""
    task = app[keys.KNOWN_TASKS].get(task_id)
    if task is not None:
        return task
    try:
        return await app[keys.STORE].get_task(task_id)
    except TaskNotFound as exc:
        raise NotFound(f"no task with id {task_id!r}") from exc


async def _verified_task(
    app: web.Application, task_id: str, presented: str | None
) -> Mapping[str, Any]:
    """The task's unchanging fields (from memory once known, else from the database), once
    `presented` matches its stored secret hash; remembered with that secret from then on."""
    task = await _task_fields(app, task_id)
    if not app[keys.SECRETS].matches(presented, task["callback_secret_hash"]):
        raise Unauthorized("callback secret does not match this task")
    app[keys.KNOWN_TASKS].remember(task, verified_secret=presented)
    return task
