"""Client API handlers under /v1: thin — read, call the service or store, answer."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from aiohttp import web

from receiver import keys
from receiver.errors import Unprocessable
from receiver.http.access import MADE_TASK
from receiver.http.body import (
    OFF_LOOP_BYTES,
    decode_json,
    read_limited,
    refuse_any_body,
    refuse_other_media,
)
from receiver.http.paging import (
    id_cursor,
    known_params,
    moment,
    one_page,
    page_limit,
    query_choice,
    task_cursor,
    whole_number,
)
from receiver.http.serializers import event_view, task_view
from receiver.services.off_loop import off_loop
from receiver.services.validation import Submission, parse_submission
from store import TaskSearch
from store.states import STATES

MAX_IDEMPOTENCY_KEY = 255


async def create_task(request: web.Request) -> web.Response:
    """POST /v1/tasks: validate, record, send; 202 with the task. A replayed Idempotency-Key
    gets the same answer with the first task, marked by `Idempotent-Replayed: true`."""
    refuse_other_media(request)
    raw = await read_limited(request, request.app[keys.SETTINGS].max_submit_bytes)
    service = request.app[keys.TASKS]
    key = _idempotency_key(request)
    parse = functools.partial(_parsed, raw, tuple(service.providers))
    large = len(raw) > OFF_LOOP_BYTES
    # A large body is read into Python objects in a thread (and let go of there): a million
    # small values took seconds to decode, walk and free, and the event loop with them.
    submission = await off_loop(parse) if large else parse()
    task, created = await service.submit(submission, key, off_loop=large)
    request[MADE_TASK] = task["id"]
    replayed = {} if created else {"Idempotent-Replayed": "true"}
    links = request.app[keys.VIDEO_LINKS]
    return web.json_response(task_view(task, links), status=202, headers=replayed)


def _parsed(raw: bytes, providers: tuple[str, ...]) -> Submission:
    return parse_submission(decode_json(raw), providers)


async def get_task(request: web.Request) -> web.Response:
    """GET /v1/tasks/{id}."""
    task = await request.app[keys.TASKS].get(request.match_info["task_id"])
    return web.json_response(task_view(task, request.app[keys.VIDEO_LINKS]))


async def list_tasks(request: web.Request) -> web.Response:
    """GET /v1/tasks?status=&provider=&limit=&cursor=&q=&created_after=&created_before=
    &metadata.KEY=VALUE, newest first."""
    query = request.query
    known_params(query, TASK_FILTERS, ("metadata.",))
    status = query_choice(query.get("status"), "status", STATES)
    provider = query_choice(query.get("provider"), "provider", request.app[keys.PROVIDERS].keys())
    limit = page_limit(query.get("limit"))
    cursor = task_cursor(query.get("cursor"))
    rows = await request.app[keys.STORE].list_tasks(
        status=status, provider=provider, limit=limit + 1, before_id=cursor,
        search=task_search(query),
    )
    page, next_cursor = one_page(rows, limit, lambda row: str(row["id"]))
    return web.json_response(
        {"tasks": [task_view(row, request.app[keys.VIDEO_LINKS]) for row in page],
         "next_cursor": next_cursor}
    )


TASK_FILTERS = ("status", "provider", "limit", "cursor", "q", "created_after", "created_before")
MAX_SEARCH = 200  # characters of a search value


def task_search(query: Mapping[str, str]) -> TaskSearch:
    """The search a task listing's query asks for; Unprocessable names a bad parameter."""
    metadata = []
    for name, wanted in query.items():
        if name.startswith("metadata."):
            key = name.removeprefix("metadata.")
            if not key or len(key) > MAX_SEARCH or len(wanted) > MAX_SEARCH:
                raise Unprocessable(f"{name[:60]} must name a metadata key and a value of at"
                                    f" most {MAX_SEARCH} characters", field=name[:60])
            metadata.append((key, wanted))
    text = (query.get("q") or "").strip() or None
    if text is not None and len(text) > MAX_SEARCH:
        raise Unprocessable(f"q must be at most {MAX_SEARCH} characters", field="q")
    return TaskSearch(
        metadata=tuple(metadata), text=text,
        created_after=moment(query.get("created_after"), "created_after"),
        created_before=moment(query.get("created_before"), "created_before"),
    )


MAX_EVENTS_PAGE = 1000


async def task_events(request: web.Request) -> web.Response:
    """GET /v1/tasks/{id}/events?limit=&cursor=, oldest first, MAX_EVENTS_PAGE at most a page;
    `next_cursor` (an event id) gives the next page."""
    query = request.query
    known_params(query, ("limit", "cursor"))
    limit = whole_number(query.get("limit"), "limit", MAX_EVENTS_PAGE, MAX_EVENTS_PAGE)
    cursor = id_cursor(query.get("cursor"))
    task_id = request.match_info["task_id"]
    await request.app[keys.TASKS].get(task_id)
    rows = await request.app[keys.STORE].task_events(task_id, after_id=cursor, limit=limit + 1)
    page, next_cursor = one_page(rows, limit, lambda row: str(row["id"]))
    return web.json_response(
        {"events": [event_view(row) for row in page], "next_cursor": next_cursor}
    )


async def cancel_task(request: web.Request) -> web.Response:
    """POST /v1/tasks/{id}/cancel; 409 when the provider or the task's state does not allow it."""
    await refuse_any_body(request)
    task = await request.app[keys.TASKS].cancel(request.match_info["task_id"])
    return web.json_response(task_view(task, request.app[keys.VIDEO_LINKS]))


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz, without auth: 200 {"ok": true}, or 503 with the reason the database cannot
    serve (its writer died; on PostgreSQL: it does not answer, or is read-only) or a background
    loop (dispatcher, submit queue, poller, video keeper) is not running; while the video store
    fails, `videos` says where videos go and its last failure."""
    failure = await request.app[keys.STORE].trouble() or request.app[keys.LOOPS].failure()
    if failure is not None:
        return web.json_response({"ok": False, "error": failure}, status=503)
    keeper = request.app.get(keys.KEEPER)
    if keeper is None or keeper.store_trouble is None:
        return web.json_response({"ok": True})
    videos = {"store": keeper.copier.store.description, "trouble": keeper.store_trouble}
    return web.json_response({"ok": True, "videos": videos})


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY:
        raise Unprocessable(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
            field="Idempotency-Key",
        )
    return key


