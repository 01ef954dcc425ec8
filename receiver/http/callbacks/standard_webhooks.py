"""A generic inbound route for any source that signs with Standard Webhooks.

POST /callbacks/standard/{source}: the signature is checked with every secret configured for the
source (so old and new secrets both work during a rotation), timestamps more than five minutes
off either way are refused, and a webhook-id seen before is acknowledged without recording twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from aiohttp import web

from receiver import keys
from receiver.errors import NotFound, Unauthorized
from receiver.http.body import decode_json, read_limited, refuse_other_media

TOLERANCE = 300  # seconds a webhook-timestamp may be off either way (Standard Webhooks)
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def verify_standard(secrets: tuple[str, ...], body: bytes, headers: Mapping[str, str]) -> None:
    """Unauthorized unless one of the secrets signed this body. The headers are checked here, so
    each refusal names the header at fault in our own words (the package's wording and its bare
    ValueErrors vary between releases)."""
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError  # at the first

    _check_headers(headers)
    wanted = {name: headers[name] for name in HEADERS}
    for secret in secrets:
        try:
            Webhook(secret).verify(body, wanted, json_parse=False)
            return
        except (WebhookVerificationError, ValueError, TypeError):
            continue
    raise Unauthorized(
        f"no configured secret signed this message (checked {len(secrets)})",
        field="webhook-signature",
    )


def _check_headers(headers: Mapping[str, str]) -> None:
    """Unauthorized naming the header unless every header is present and well formed and the
    timestamp is within the tolerance."""
    for name in HEADERS:
        if not headers.get(name):
            raise Unauthorized(f"missing required header {name}", field=name)
    stamp = headers["webhook-timestamp"]
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise Unauthorized("webhook-timestamp is malformed: Unix seconds expected",
                           field="webhook-timestamp")
    skew = int(stamp) - time.time()
    if abs(skew) > TOLERANCE:
        when = "too new" if skew > 0 else "too old"
        raise Unauthorized(
            f"webhook-timestamp is {when}: more than {TOLERANCE} seconds from now",
            field="webhook-timestamp",
        )
    signatures = headers["webhook-signature"].split(" ")
    if not any(sig.startswith("v1,") and len(sig) > 3 for sig in signatures):
        raise Unauthorized(
            "webhook-signature is malformed: space-separated v1,<base64> signatures expected",
            field="webhook-signature",
        )


async def standard_callback(request: web.Request) -> web.Response:
    """Verify, deduplicate on webhook-id and record a Standard Webhooks message."""
    source = request.match_info["source"]
    secrets = request.app[keys.SETTINGS].inbound_secrets.get(source)
    if not secrets:
        raise NotFound(f"no Standard Webhooks source named {source!r} is configured")
    refuse_other_media(request)
    _check_headers(request.headers)  # before the body is read: it is read whole to be checked
    body = await read_limited(request, request.app[keys.SETTINGS].max_inbound_bytes)
    verify_standard(secrets, body, request.headers)
    payload = decode_json(body)
    fresh = await request.app[keys.STORE].inbound.record(
        source, request.headers["webhook-id"], json.dumps(payload)
    )
    return web.json_response({"ok": True, "duplicate": not fresh})
