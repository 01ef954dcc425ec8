"""A generic inbound route for any source that signs with Standard Webhooks.

POST /callbacks/standard/{source}: the signature is checked with every secret configured for the
source (so old and new secrets both work during a rotation), timestamps more than five minutes
off either way are refused, and a webhook-id seen before is acknowledged without recording twice.
"""

from __future__ import annotations

import json

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from receiver import keys
from receiver.body import decode_json, read_limited, refuse_other_media
from receiver.errors import NotFound, Unauthorized


def verify_standard(secrets: tuple[str, ...], body: bytes, headers: dict[str, str]) -> None:
    """Unauthorized unless one of the secrets signed this body; malformed headers included
    (the package lets bare ValueErrors out for those)."""
    reason = "no secret"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return
        except WebhookVerificationError as exc:
            reason = str(exc)
        except (ValueError, TypeError):
            message = "malformed webhook-id, webhook-timestamp or webhook-signature"
            raise Unauthorized(message) from None
    raise Unauthorized(f"Standard Webhooks verification failed: {reason.lower()}")


async def standard_callback(request: web.Request) -> web.Response:
    """Verify, deduplicate on webhook-id and record a Standard Webhooks message."""
    source = request.match_info["source"]
    secrets = request.app[keys.SETTINGS].inbound_secrets.get(source)
    if not secrets:
        raise NotFound(f"no Standard Webhooks source named {source!r} is configured")
    refuse_other_media(request)
    body = await read_limited(request, request.app[keys.SETTINGS].max_callback_bytes)
    verify_standard(secrets, body, dict(request.headers))
    payload = decode_json(body)
    fresh = await request.app[keys.STORE].inbound.record(
        source, request.headers["webhook-id"], json.dumps(payload)
    )
    return web.json_response({"ok": True, "duplicate": not fresh})
