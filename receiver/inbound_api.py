"""GET /v1/inbound: the Standard Webhooks messages reelhook has received, newest first."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from receiver import keys
from receiver.errors import Unprocessable
from receiver.paging import one_page, page_limit, whole_number

_SOURCE = re.compile(r"[a-z0-9_-]{1,64}")


async def list_inbound(request: web.Request) -> web.Response:
    """GET /v1/inbound?source=&limit=&cursor=."""
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
    if source is not None and not _SOURCE.fullmatch(source):
        raise Unprocessable(
            "source must be 1 to 64 lower-case letters, digits, - or _", field="source"
        )
    cursor = query.get("cursor")
    before = whole_number(cursor, "cursor", None, 2**62) if cursor else None
    return source, page_limit(query.get("limit")), before


def inbound_view(row: dict[str, Any]) -> dict[str, Any]:
    """A message as the API shows it, its payload decoded."""
    try:
        payload = json.loads(row["payload"]) if row.get("payload") else None
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
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/inbound": {
        "get": {
            "summary": "Standard Webhooks messages received, newest first",
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in ("source", "limit", "cursor")
            ],
            "responses": {
                "200": {
                    "description": "a page of messages",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["messages", "next_cursor"],
                        "properties": {
                            "messages": {"type": "array", "items": {
                                "$ref": "#/components/schemas/InboundMessage"}},
                            "next_cursor": {"type": "string", "nullable": True},
                        },
                    }}},
                },
                "401": {"description": "no or wrong token", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
                "422": {"description": "a bad query parameter", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
    }
}
