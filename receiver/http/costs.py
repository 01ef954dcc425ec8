"""GET /v1/costs: estimated spending per provider, from each task's `cost_usd`."""

from __future__ import annotations

from aiohttp import web

from receiver import keys
from receiver.http.paging import known_params, query_choice
from store.states import STATES


async def cost_totals(request: web.Request) -> web.Response:
    """Per provider: tasks, tasks with a known price, and their summed cost; `?status=` filters."""
    known_params(request.query, ("status",))
    status = query_choice(request.query.get("status"), "status", STATES)
    rows = await request.app[keys.STORE].cost_totals(status)
    total = round(sum(row["cost_usd"] for row in rows), 6)
    return web.json_response({"status": status, "providers": rows, "total_usd": total})
