"""The sources of the Standard Webhooks route and their secrets (REELHOOK_INBOUND_SECRETS)."""

from __future__ import annotations

import re

from dispatcher.whsec import WHSEC_RULE, is_whsec_key
from receiver.errors import SettingsError
from receiver.settings.values import comma_list

# A Standard Webhooks source's name, in REELHOOK_INBOUND_SECRETS and in GET /v1/inbound?source=.
INBOUND_SOURCE = re.compile(r"[a-z0-9_-]{1,64}")
INBOUND_SOURCE_RULE = "1 to 64 lower-case letters, digits, - or _"


def inbound_secrets(raw: str) -> dict[str, tuple[str, ...]]:
    """source:whsec_... pairs; a source named twice accepts both secrets (rotation)."""
    found: dict[str, tuple[str, ...]] = {}
    for pair in comma_list(raw):
        source, _, secret = pair.partition(":")
        if not INBOUND_SOURCE.fullmatch(source) or not is_whsec_key(secret):
            raise SettingsError(
                "REELHOOK_INBOUND_SECRETS takes comma-separated source:secret pairs; source is"
                f" {INBOUND_SOURCE_RULE}; the secret is {WHSEC_RULE}"
            )
        found[source] = (*found.get(source, ()), secret)
    return found
