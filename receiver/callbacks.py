"""Provider callbacks: verify first, then read, parse, record, and answer 2xx only once committed.

The secret's tag is checked before the body is read or anything is written, so forged callbacks
are refused at the cost of one HMAC (and, once per task, a read saying whether it exists: 404 for
no such task, else 401); verified ones then share a bounded number of slots.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from receiver import keys
from receiver.body import read_limited, refuse_other_media
from receiver.errors import BadRequest, NotFound, ServiceUnavailable, Unauthorized
from receiver.providers.base import Provider
from receiver.providers.errors import MalformedCallback
from store import TaskNotFound
from store.models import is_task_id

# The two answers, encoded once (keyed by "was it recorded").
_ANSWERS = {new: json.dumps({"ok": True, "duplicate": not new}).encode() for new in (True, False)}
DUPLICATE_ANSWER = _ANSWERS[False]


async def provider_callback(request: web.Request) -> web.Response:
    """POST /callbacks/{provider}/{task_id}[/{token}]."""
    provider = _callback_provider(request)
    task_id = request.match_info["task_id"]
    presented = provider.presented_secret(request.headers, request.match_info.get("token"))
    # The secret already verified for this task, or else the tag: no database work before it.
    task = request.app[keys.KNOWN_TASKS].vouched(task_id, presented)
    genuine = task is not None or request.app[keys.SECRETS].vouches(task_id, presented)
    if not genuine:
        _refuse_if_known(request.app, task_id)
    slots = request.app[keys.CALLBACK_SLOTS]
    if not slots.take():
        raise ServiceUnavailable("too many callbacks in progress; retry shortly")
    try:
        if not genuine:  # 404 for no such task, else 401: one read per task id, in a slot
            await _require_existing(request.app, task_id)
            raise Unauthorized("callback secret does not match this task")
        return await _record(request, provider, task_id, presented, task)
    finally:
        slots.give_back()


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
    task: dict[str, Any] | None,
) -> web.Response:
    app = request.app
    refuse_other_media(request)
    body = await read_limited(request, app[keys.SETTINGS].max_callback_bytes)
    if task is None:
        task = await _verified_task(app, task_id, presented)
    if task["provider"] != provider.name:
        raise Unauthorized("callback secret does not match this task")
    try:
        report = provider.read_callback(body)
    except MalformedCallback as exc:
        raise BadRequest(f"malformed callback: {exc}") from exc
    known = task["provider_task_id"]
    if known and report.provider_task_id and report.provider_task_id != known:
        raise BadRequest("callback is about another task than the one this address belongs to")
    recorded = await app[keys.TASKS].apply_callback(task, provider, report)
    return web.Response(body=_ANSWERS[recorded], content_type="application/json")


def _refuse_if_known(app: web.Application, task_id: str) -> None:
    """A forged callback about a task id memory can answer for: 401 for a task that exists,
    404 for one that does not (or for an id no task could have); no slot, no read."""
    exists = app[keys.KNOWN_TASKS].exists(task_id) if is_task_id(task_id) else False
    if exists is False:
        raise NotFound(f"no task with id {task_id!r}")
    if exists:
        raise Unauthorized("callback secret does not match this task")


async def _require_existing(app: web.Application, task_id: str) -> None:
    """NotFound when there is no such task. Whether a task exists is remembered both ways (ids
    are random, and a task is recorded before any provider hears of it), so a flood of forged
    callbacks reads each task id once."""
    known = app[keys.KNOWN_TASKS]
    exists = known.exists(task_id)
    if exists is None:
        try:
            known.remember(await app[keys.STORE].get_task(task_id))
            exists = True
        except TaskNotFound:
            exists = False
        known.note_existence(task_id, exists)
    if not exists:
        raise NotFound(f"no task with id {task_id!r}")


async def _verified_task(
    app: web.Application, task_id: str, presented: str | None
) -> dict[str, Any]:
    """The task's unchanging fields (from memory once known, else from the database), once
    `presented` matches its stored secret hash; remembered with that secret from then on."""
    known = app[keys.KNOWN_TASKS]
    task = known.get(task_id)
    if task is None:
        try:
            task = await app[keys.STORE].get_task(task_id)
        except TaskNotFound as exc:
            raise NotFound(f"no task with id {task_id!r}") from exc
    if not app[keys.SECRETS].matches(presented, task["callback_secret_hash"]):
        raise Unauthorized("callback secret does not match this task")
    known.remember(task, verified_secret=presented)
    return task
