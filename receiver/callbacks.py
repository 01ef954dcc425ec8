"""Provider callbacks: read the raw body, verify, parse, record, answer 2xx only once committed."""

from __future__ import annotations

from aiohttp import web

from receiver import keys
from receiver.body import read_limited
from receiver.errors import BadRequest, NotFound, Unauthorized
from receiver.providers.errors import MalformedCallback
from store import TaskNotFound


async def provider_callback(request: web.Request) -> web.Response:
    """POST /callbacks/{provider}/{task_id}[/{token}]."""
    app = request.app
    provider = app[keys.PROVIDERS].get(request.match_info["provider"])
    if provider is None or not provider.supports_callbacks:
        raise NotFound("no such provider callback route")
    body = await read_limited(request, app[keys.SETTINGS].max_callback_bytes)
    task_id = request.match_info["task_id"]
    try:
        task = await app[keys.STORE].get_task(task_id)
    except TaskNotFound as exc:
        raise NotFound(f"no task with id {task_id!r}") from exc
    presented = provider.presented_secret(request.headers, request.match_info.get("token"))
    if task["provider"] != provider.name or not app[keys.SECRETS].matches(
        presented, task["callback_secret_hash"]
    ):
        raise Unauthorized("callback secret does not match this task")
    try:
        report = provider.read_callback(body)
    except MalformedCallback as exc:
        raise BadRequest(f"malformed callback: {exc}") from exc
    known = task["provider_task_id"]
    if known and report.provider_task_id and report.provider_task_id != known:
        raise BadRequest("callback is about another task than the one this address belongs to")
    recorded = await app[keys.TASKS].apply_report(task_id, report, "callback")
    return web.json_response({"ok": True, "duplicate": not recorded})
