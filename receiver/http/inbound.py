"""GET /v1/inbound: the Standard Webhooks messages reelhook has received, newest first."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from receiver import keys
from receiver.errors import Unprocessable
from receiver.http.paging import id_cursor, known_params, one_page, page_limit
from receiver.http.serializers import with_urls_redacted
from receiver.settings.inbound import INBOUND_SOURCE, INBOUND_SOURCE_RULE


async def list_inbound(request: web.Request) -> web.Response:
    """GET /v1/inbound?source=&limit=&cursor=."""
    known_params(request.query, ("source", "limit", "cursor"))
    source, limit, before = read_query(request.query)
    rows = await request.app[keys.STORE].inbound.recent(
        source=source, limit=limit + 1, before_id=before
    )
    page, next_cursor = one_page(rows, limit, lambda row: str(row["id"]))
    return web.json_response(
        {"messages": [inbound_view(row) for row in page], "next_cursor": next_cursor}
    )


def read_query(query: Any) -> tuple[str | None, int, int | None]:
    """source, limit and cursor from a query string; Unprocessable names a bad one."""
    source = query.get("source") or None
    if source is not None and not INBOUND_SOURCE.fullmatch(source):
        raise Unprocessable(f"source must be {INBOUND_SOURCE_RULE}", field="source")
    return source, page_limit(query.get("limit")), id_cursor(query.get("cursor"))


def inbound_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A message as the API shows it, its payload decoded, URLs in it without user-info, query
    or fragment (as events show them)."""
    try:
        payload = with_urls_redacted(json.loads(row["payload"])) if row.get("payload") else None
    except ValueError:
        payload = row["payload"]
    return {"id": row["id"], "source": row["source"], "webhook_id": row["webhook_id"],
            "received_at": row["received_at"], "payload": payload}


INBOUND_MESSAGE = {
    "type": "object",
    "required": ["id", "source", "webhook_id", "received_at", "payload"],
    "properties": {
        "id": {"type": "integer"},
        "source": {"type": "string"},
        "webhook_id": {"type": "string"},
        "received_at": {"type": "string"},
        "payload": {"nullable": True},
    },
}
