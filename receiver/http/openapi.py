"""The OpenAPI 3.0 document of the client API, served at GET /openapi.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dispatcher.channels import CHANNEL_NAMES
from receiver.http import openapi_destinations
from receiver.http.inbound import INBOUND_MESSAGE
from receiver.http.paging import MAX_PAGE
from receiver.providers import PROVIDER_NAMES
from receiver.services.request_fields import NUMBER_FIELDS, TEXT_FIELDS
from receiver.settings.inbound import INBOUND_SOURCE
from store.models import TASK_ID
from store.plans.outbox import DELIVERY_STATUSES
from store.states import STATES
from store.task_json import task_schema

_NULLABLE_STRING = {"type": "string", "nullable": True}

TASK = task_schema(PROVIDER_NAMES)
EVENT = {
    "type": "object",
    "required": ["id", "source", "provider_status", "status", "progress", "received_at"],
    "properties": {
        "id": {"type": "integer"},
        "source": {"type": "string"},
        "provider_status": _NULLABLE_STRING,
        "status": _NULLABLE_STRING,
        "progress": {"type": "integer", "nullable": True},
        "received_at": {"type": "string"},
        "payload": {"nullable": True},
    },
}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string", "nullable": True,
                          "description": "the field the error is about; null when none"},
            },
        }
    },
}
NEW_TASK = {
    "type": "object",
    "required": ["provider", "model"],
    "additionalProperties": False,
    "properties": {
        "provider": {"type": "string", "enum": list(PROVIDER_NAMES)},
        "model": {"type": "string"},
        **{name: {"type": "string"} for name in TEXT_FIELDS},
        **{name: {"type": "number"} for name in NUMBER_FIELDS},
        "extra": {"type": "object"},
        "notify": {"type": "array", "items": {"type": "object"}, "maxItems": 10},
        "metadata": {"type": "object"},
    },
}


DELIVERY = {
    "type": "object",
    "required": ["id", "task_id", "state", "status", "attempts", "attempt_count", "destination"],
    "properties": {
        "id": {"type": "integer"},
        "task_id": {"type": "string"},
        "state": {"type": "string"},
        "status": {"type": "string", "enum": list(DELIVERY_STATUSES)},
        "attempt_count": {"type": "integer"},
        "last_error": _NULLABLE_STRING,
        "next_attempt_at": _NULLABLE_STRING,
        "destination": {
            "type": "object",
            "required": ["id", "channel", "label"],
            "properties": {
                "channel": {"type": "string", "enum": list(CHANNEL_NAMES)},
                "name": _NULLABLE_STRING,
                "label": {"type": "string"},
            },
        },
        "attempts": {"type": "array", "items": {"type": "object"}},
    },
}
COSTS = {
    "type": "object",
    "required": ["status", "providers", "total_usd"],
    "properties": {
        "status": _NULLABLE_STRING,
        "providers": {"type": "array", "items": {"type": "object"}},
        "total_usd": {"type": "number"},
    },
}


def _json(schema: dict[str, Any] | str, description: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _errors(*codes: int) -> dict[str, Any]:
    # 401 and 429 on every route: a wrong token, and too many wrong ones from one address.
    return {
        str(code): _json("Error", "an error; the message says what is allowed")
        for code in (401, 429, *codes)
    }


def _task_id() -> dict[str, Any]:
    return {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _list_of(name: str, ref: str) -> dict[str, Any]:
    items = {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}}
    return {"type": "object", "required": [name], "properties": {name: items}}


def _page_of(name: str, ref: str) -> dict[str, Any]:
    """A listing's answer: one page of `name` and the cursor of the next page (or null)."""
    page = _list_of(name, ref)
    page["required"].append("next_cursor")
    page["properties"]["next_cursor"] = _NULLABLE_STRING
    return page


def _paging(cursor: str = r"^[0-9]+$") -> list[dict[str, Any]]:
    """limit and cursor; `cursor` is the pattern of the listing's ids (see paging.py)."""
    return [
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
        _query("cursor", {"type": "string", "pattern": cursor}),
    ]


_VIDEO_BYTES: dict[str, Any] = {
    "description": "the video's bytes, with Content-Type, Content-Length and ETag (its SHA-256)",
    "content": {"video/*": {"schema": {"type": "string", "format": "binary"}}},
}

PATHS: dict[str, Any] = {
    "/v1/tasks": {
        "post": {
            "summary": "Validate, record and submit a task",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/NewTask"}}
                },
            },
            "responses": {
                "202": _json("Task", "the new task, or the first task for a replayed"
                             " Idempotency-Key (then with Idempotent-Replayed: true)"),
                **_errors(400, 409, 413, 415, 422, 503),
            },
        },
        "get": {
            "summary": "Tasks, newest first",
            "parameters": [
                _query("status", {"type": "string", "enum": list(STATES)}),
                _query("provider", {"type": "string", "enum": list(PROVIDER_NAMES)}),
                *_paging(f"^{TASK_ID.pattern}$"),
                _query("q", {"type": "string", "maxLength": 200,
                             "description": "words of the prompt (any case)"}),
                _query("created_after", {"type": "string", "format": "date-time"}),
                _query("created_before", {"type": "string", "format": "date-time"}),
            ],
            "description": "Also metadata.KEY=VALUE (any number of them): tasks whose metadata"
            " has that value. An unknown query parameter is 400.",
            "responses": {
                "200": _json(_page_of("tasks", "Task"), "a page of tasks"),
                **_errors(400, 422),
            },
        },
    },
    "/v1/tasks/{task_id}": {
        "get": {
            "summary": "One task",
            "parameters": [_task_id()],
            "responses": {"200": _json("Task", "the task"), **_errors(404)},
        }
    },
    "/v1/tasks/{task_id}/events": {
        "get": {
            "summary": "A task's events, oldest first, 1000 at most a page",
            "parameters": [
                _task_id(),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                _query("cursor", {"type": "string", "pattern": "^[0-9]{1,19}$"}),
            ],
            "description": "An unknown query parameter is 400.",
            "responses": {
                "200": _json(_page_of("events", "Event"), "a page of events"),
                **_errors(400, 404, 422),
            },
        }
    },
    "/v1/tasks/{task_id}/deliveries": {
        "get": {
            "summary": "Every notice of a task with its attempts",
            "parameters": [_task_id()],
            "description": "An unknown query parameter is 400.",
            "responses": {
                "200": _json(_list_of("deliveries", "Delivery"), "the deliveries"),
                **_errors(400, 404),
            },
        }
    },
    "/v1/deliveries": {
        "get": {
            "summary": "Deliveries, newest first",
            "parameters": [
                _query("status", {"type": "string", "enum": list(DELIVERY_STATUSES)}),
                *_paging(),
            ],
            "responses": {
                "200": _json(_page_of("deliveries", "Delivery"), "a page of deliveries"),
                **_errors(422),
            },
        }
    },
    "/v1/deliveries/{delivery_id}/redeliver": {
        "post": {
            "summary": "Send a delivered or dead notice again",
            "parameters": [
                {
                    "name": "delivery_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "202": _json("Delivery", "the delivery, due again"),
                **_errors(400, 404, 409, 415, 422, 503),
            },
        }
    },
    "/v1/costs": {
        "get": {
            "summary": "Estimated spending per provider",
            "parameters": [_query("status", {"type": "string", "enum": list(STATES)})],
            "responses": {"200": _json(COSTS, "totals per provider"), **_errors(422)},
        }
    },
    "/v1/inbound": {
        "get": {
            "summary": "Standard Webhooks messages received, newest first",
            "parameters": [
                _query("source", {"type": "string", "pattern": f"^{INBOUND_SOURCE.pattern}$"}),
                *_paging(),
            ],
            "responses": {
                "200": _json(_page_of("messages", "InboundMessage"), "a page of messages"),
                **_errors(422),
            },
        }
    },
    "/v1/tasks/{task_id}/cancel": {
        "post": {
            "summary": "Cancel at the provider",
            "parameters": [_task_id()],
            "responses": {"200": _json("Task", "the cancelled task"),
                          **_errors(400, 404, 409, 415, 422, 503)},
        }
    },
    "/v1/tasks/{task_id}/video": {
        "get": {
            "summary": "The kept copy of the task's video",
            "description": "With the API token, or without it through a signed link (the"
            " task's video.url: expires and sig). A copy in a cloud store is a 302 to a"
            " presigned URL.",
            "security": [{"bearer": []}, {}],
            "parameters": [
                _task_id(),
                _query("expires", {"type": "string", "pattern": "^[0-9]{1,12}$"}),
                _query("sig", {"type": "string"}),
                {"name": "Range", "in": "header", "required": False,
                 "schema": {"type": "string"}, "description": "one range: bytes=START-END,"
                 " bytes=START- or bytes=-LENGTH"},
                {"name": "If-None-Match", "in": "header", "required": False,
                 "schema": {"type": "string"}},
                {"name": "If-Range", "in": "header", "required": False,
                 "schema": {"type": "string"}},
            ],
            "responses": {
                "200": _VIDEO_BYTES,
                "206": {**_VIDEO_BYTES, "description": "the range asked for, with"
                        " Content-Range"},
                "302": {"description": "a presigned URL of the copy in a cloud store"},
                "304": {"description": "the copy the If-None-Match names is current"},
                **_errors(400, 404, 416),
            },
        }
    },
}


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "reelhook client API", "version": "1"},
        "security": [{"bearer": []}],
        "paths": PATHS | openapi_destinations.paths(_json, _errors),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Task": TASK,
                "Event": EVENT,
                "Error": ERROR,
                "NewTask": NEW_TASK,
                "Delivery": DELIVERY,
                "InboundMessage": INBOUND_MESSAGE,
                **openapi_destinations.SCHEMAS,
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """GET /openapi.json, without auth."""
    return web.json_response(document())
