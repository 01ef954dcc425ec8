"""The OpenAPI paths and schemas of /v1/destinations (receiver/http/openapi.py adds them)."""

from __future__ import annotations

from typing import Any

from dispatcher.channels import CHANNEL_NAMES
from receiver.providers import PROVIDER_NAMES
from receiver.services.registered import MAX_METADATA_KEYS, MAX_NAME
from store.states import STATES

_TEXT = {"type": "string", "nullable": True}
_STATES = {"type": "array", "items": {"type": "string", "enum": list(STATES)}, "minItems": 1}
_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    "url": {"type": "string", "format": "uri"},
    "to": {"type": "string", "format": "email"},
    "secret": {"type": "string", "pattern": "^whsec_"},
    "on": _STATES,
    "provider": {"type": "string", "enum": list(PROVIDER_NAMES), "nullable": True},
    "metadata": {"type": "object", "maxProperties": MAX_METADATA_KEYS, "nullable": True,
                 "additionalProperties": {"oneOf": [
                     {"type": "string"}, {"type": "number"}, {"type": "boolean"}]}},
    "paused": {"type": "boolean"},
}
SCHEMAS: dict[str, Any] = {
    "NewDestination": {
        "type": "object", "required": ["name", "channel"], "additionalProperties": False,
        "properties": {"channel": {"type": "string", "enum": list(CHANNEL_NAMES)}, **_FIELDS},
    },
    "DestinationChange": {
        "type": "object", "additionalProperties": False, "properties": _FIELDS,
    },
    "Destination": {
        "type": "object",
        "required": ["id", "name", "channel", "label", "on", "paused", "disabled_reason"],
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"},
            "channel": {"type": "string", "enum": list(CHANNEL_NAMES)},
            "label": {"type": "string"}, "on": _STATES, "provider": _TEXT,
            "metadata": {"type": "object"}, "paused": {"type": "boolean"},
            "disabled_reason": _TEXT, "disabled_at": _TEXT, "managed_by": _TEXT,
            "secret": {"type": "string", "description": "a new webhook's key, at creation only"},
        },
    },
    "TestSend": {
        "type": "object", "required": ["delivered", "status_code", "error", "duration_ms"],
        "properties": {
            "delivered": {"type": "boolean"}, "status_code": {"type": "integer", "nullable": True},
            "error": _TEXT, "duration_ms": {"type": "number"},
        },
    },
}


def paths(json: Any, errors: Any) -> dict[str, Any]:
    """The destination routes, with openapi.py's helpers for an answer and its errors."""
    one = [{"name": "destination_id", "in": "path", "required": True,
            "schema": {"type": "string"}}]

    def body(schema: str) -> dict[str, Any]:
        ref = {"$ref": f"#/components/schemas/{schema}"}
        return {"required": True, "content": {"application/json": {"schema": ref}}}

    def action(summary: str, answer: str, what: str) -> dict[str, Any]:
        return {"post": {"summary": summary, "parameters": one,
                         "responses": {"200": json(answer, what), **errors(404, 422)}}}

    listing = {"type": "object", "required": ["destinations"], "properties": {"destinations": {
        "type": "array", "items": {"$ref": "#/components/schemas/Destination"}}}}
    return {
        "/v1/destinations": {
            "post": {"summary": "Register a named destination", "requestBody":
                     body("NewDestination"), "responses": {
                         "201": json("Destination", "the destination (a new secret, once)"),
                         **errors(409, 413, 415, 422)}},
            "get": {"summary": "Every registered destination, by name",
                    "responses": {"200": json(listing, "the destinations"), **errors(400)}},
        },
        "/v1/destinations/{destination_id}": {
            "get": {"summary": "One registered destination", "parameters": one,
                    "responses": {"200": json("Destination", "the destination"),
                                  **errors(404, 422)}},
            "patch": {"summary": "Change a destination", "parameters": one,
                      "requestBody": body("DestinationChange"), "responses": {
                          "200": json("Destination", "the destination as changed"),
                          **errors(404, 409, 413, 415, 422)}},
            "delete": {"summary": "Delete a destination (its history stays)", "parameters": one,
                       "responses": {"204": {"description": "deleted"},
                                     **errors(404, 409, 422)}},
        },
        "/v1/destinations/{destination_id}/pause": action(
            "Send it nothing until resumed", "Destination", "the destination, paused"),
        "/v1/destinations/{destination_id}/resume": action(
            "Send to it again", "Destination", "the destination, active"),
        "/v1/destinations/{destination_id}/test": action(
            "Send a test notice now", "TestSend", "what became of the test notice"),
    }
