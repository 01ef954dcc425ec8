"""The dashboard's pages: tasks, one task, deliveries, costs and inbound messages. They read
through the same task service and store as the client API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDict

from dispatcher.channels import CHANNEL_NAMES
from dispatcher.links import VideoLinks
from receiver import keys
from receiver.dashboard.chart import COLOURS, daily_chart, first_day
from receiver.dashboard.guard import page, render
from receiver.dashboard.hub import live_view
from receiver.dashboard.session import Session
from receiver.http.inbound import inbound_view, read_query
from receiver.http.paging import known_params, one_page, page_limit, query_choice, task_cursor
from receiver.http.serializers import delivery_view, event_view, task_view, with_urls_redacted
from receiver.http.tasks import task_search
from receiver.providers.http import scrub
from store import TaskSearch
from store.plans.outbox import DELIVERY_STATUSES
from store.states import STATES, is_terminal

PAGE = 25
CHART_DAYS = 14
SHOWN_DELIVERIES = 200
SHOWN_DEAD = 500


@page
async def tasks_page(request: web.Request, session: Session) -> web.StreamResponse:
    """Tasks newest first, filtered by status and provider, with cursor paging."""
    query = request.query
    known_params(query, ("status", "provider", "limit", "cursor", "q"))
    status = query_choice(query.get("status"), "status", STATES)
    provider = query_choice(query.get("provider"), "provider", request.app[keys.PROVIDERS].keys())
    limit = page_limit(query.get("limit") or str(PAGE))
    cursor = task_cursor(query.get("cursor"))
    words = (query.get("q") or "").strip()
    search = box_search(words)
    rows = await request.app[keys.STORE].list_tasks(
        status=status, provider=provider, limit=limit + 1, before_id=cursor, search=search,
    )
    page_rows, next_cursor = one_page(rows, limit, lambda row: str(row["id"]))
    tasks = [_listed(row, request.app[keys.VIDEO_LINKS]) for row in page_rows]
    providers = sorted(request.app[keys.PROVIDERS].keys())
    older = _older("/dashboard/tasks", next_cursor, status=status, provider=provider,
                   limit=query.get("limit"), q=words)
    return render(
        request, "tasks.html", session, nav="tasks", tasks=tasks, statuses=STATES,
        providers=providers, status=status, provider=provider, older=older,
        first_page=not cursor, q=words, searching=not search.empty,
    )


def box_search(words: str) -> TaskSearch:
    """The search box: `key=value` words look in the metadata (each of them, as the API's
    `metadata.KEY=VALUE`), the others in the prompt (`q`); Unprocessable names what is too
    long."""
    text: list[str] = []
    wanted: list[tuple[str, str]] = []
    for word in words.split():
        key, equals, value = word.partition("=")
        if equals and key:
            wanted.append((f"metadata.{key}", value))
        else:
            text.append(word)
    return task_search(MultiDict([("q", " ".join(text)), *wanted]))


TIMELINE_EVENTS = 200  # the task page shows the last ones; the API pages through them all


@page
async def task_page(request: web.Request, session: Session) -> web.StreamResponse:
    """One task: facts, video, timeline with payloads, the request as sent, notices."""
    return await render_task(request, session)


async def render_task(
    request: web.Request, session: Session, status: int = 200, problem: str | None = None
) -> web.Response:
    """The task page (also after a refused cancel, with the reason)."""
    task_id = request.match_info["task_id"]
    row = await request.app[keys.TASKS].get(task_id)
    store = request.app[keys.STORE]
    newest = await store.task_events(task_id, limit=TIMELINE_EVENTS + 1, newest=True)
    events = [_event(item) for item in newest[-TIMELINE_EVENTS:]]
    notices = [delivery_view(item) for item in await store.outbox.deliveries(task_id=task_id)]
    sent = with_urls_redacted(scrub(json.loads(row.get("request") or "{}")))
    request_sent = json.dumps({k: v for k, v in sent.items() if v not in (None, {}, [])}, indent=2)
    return render(
        request, "task.html", session, code=status, nav="tasks", problem=problem,
        task=_listed(row, request.app[keys.VIDEO_LINKS]), events=events, notices=notices,
        request_sent=request_sent, earlier_events=len(newest) > TIMELINE_EVENTS,
        metadata=json.dumps(task_view(row)["metadata"], indent=2) if row.get("metadata") else None,
        finished=is_terminal(row["status"]),
    )


@page
async def deliveries_page(request: web.Request, session: Session) -> web.StreamResponse:
    """Dead letters first, then every notice newest first; filter by status and channel."""
    query = request.query
    known_params(query, ("status", "channel", "redelivered"))
    status = query_choice(query.get("status"), "status", DELIVERY_STATUSES)
    channel = query_choice(query.get("channel"), "channel", CHANNEL_NAMES)
    outbox = request.app[keys.STORE].outbox
    dead = [] if status not in (None, "dead") else await matching(
        outbox, "dead", channel, SHOWN_DEAD
    )
    rows = [row for row in await matching(outbox, status, channel, SHOWN_DELIVERIES)
            if row["status"] != "dead"]
    return render(
        request, "deliveries.html", session, nav="deliveries", statuses=DELIVERY_STATUSES,
        channels=CHANNEL_NAMES, status=status, channel=channel, redelivered=_count(query),
        dead=[delivery_view(row) for row in dead],
        deliveries=[delivery_view(row) for row in rows],
    )


async def matching(
    outbox: Any, status: str | None, channel: str | None, most: int | None
) -> list[dict[str, Any]]:
    """Deliveries of a status (or any) and a channel (or any), newest first, at most `most`
    (None: all), read a page at a time so that the channel filter misses none."""
    found: list[dict[str, Any]] = []
    before: int | None = None
    while most is None or len(found) < most:
        rows = await outbox.deliveries(status=status, limit=SHOWN_DELIVERIES, before_id=before)
        found += [row for row in rows if channel is None or row["channel"] == channel]
        if len(rows) < SHOWN_DELIVERIES:
            break
        before = int(rows[-1]["id"])
    return found if most is None else found[:most]


@page
async def costs_page(request: web.Request, session: Session) -> web.StreamResponse:
    """Spend per provider per day (an SVG chart drawn on the server) and totals."""
    store = request.app[keys.STORE]
    daily = await store.stats.daily_costs(first_day(CHART_DAYS))
    totals = await store.cost_totals(None)
    return render(
        request, "costs.html", session, nav="costs", chart=daily_chart(daily, CHART_DAYS),
        totals=totals, total=round(sum(row["cost_usd"] for row in totals), 6),
        window_total=round(sum(row["cost_usd"] for row in daily), 6), days=CHART_DAYS,
        colours=COLOURS,
    )


@page
async def inbound_page(request: web.Request, session: Session) -> web.StreamResponse:
    """Standard Webhooks messages received, newest first, optionally of one source."""
    known_params(request.query, ("source", "limit", "cursor"))
    source, limit, before = read_query(request.query)
    rows = await request.app[keys.STORE].inbound.recent(
        source=source, limit=limit + 1, before_id=before
    )
    page_rows, next_cursor = one_page(rows, limit, lambda row: str(row["id"]))
    messages = [_message(row) for row in page_rows]
    older = _older("/dashboard/inbound", next_cursor, source=source,
                   limit=request.query.get("limit"))
    return render(
        request, "inbound.html", session, nav="inbound", messages=messages, source=source,
        sources=sorted(request.app[keys.SETTINGS].inbound_secrets), older=older,
    )


def _older(path: str, cursor: str | None, **filters: str | None) -> str | None:
    """The link to the next (older) page, keeping the filters; None on the last page."""
    if cursor is None:
        return None
    return f"{path}?" + urlencode({"cursor": cursor, **{k: v for k, v in filters.items() if v}})


def _count(query: Any) -> int | None:
    raw = query.get("redelivered", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else None


def _listed(row: Mapping[str, Any], links: VideoLinks) -> dict[str, Any]:
    return live_view(row, links)


def _event(row: Mapping[str, Any]) -> dict[str, Any]:
    view = event_view(row)
    view["payload_text"] = json.dumps(view["payload"], indent=2) if view["payload"] else ""
    return view


def _message(row: Mapping[str, Any]) -> dict[str, Any]:
    view = inbound_view(row)
    view["payload_text"] = json.dumps(view["payload"], indent=2)
    return view
