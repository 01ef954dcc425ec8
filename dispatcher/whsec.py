"""The format of a Standard Webhooks signing key (whsec_...), checked without importing the
senders: settings, validation and the webhook channel share this one rule."""

from __future__ import annotations

import base64
import binascii

WHSEC_RULE = "a Standard Webhooks key: whsec_ and base64 of 24 to 64 bytes"


def is_whsec_key(secret: str) -> bool:
    """True for a Standard Webhooks signing key (see WHSEC_RULE): the one check of the format,
    for webhook destinations and inbound senders alike."""
    if not secret.startswith("whsec_"):
        return False
    try:
        key = base64.b64decode(secret[len("whsec_"):], validate=True)
    except (binascii.Error, ValueError):
        return False
    return 24 <= len(key) <= 64
