"""REELHOOK_SECRET_KEY: the Fernet keys that seal and sign (the first seals; any after it,
during a rotation, still open), or, on a SQLite file, the key kept beside it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping

from receiver.errors import SettingsError
from receiver.settings.values import comma_list
from store.opening import is_postgres

# Settings that store destinations (sealed with REELHOOK_SECRET_KEY): with one of them, the key
# must be given, never made on the spot.
DESTINATION_SETTINGS = ("REELHOOK_SLACK_WEBHOOK_URL", "REELHOOK_EMAIL_TO", "REELHOOK_ALERTS_TO")
KeyStore = Callable[[str], bytes]  # a SQLite database's path -> the key kept beside it


def key_file_of(database: str) -> str:
    """Where the key of this SQLite database is kept."""
    return f"{database}.key"


def is_fernet_key(raw: str) -> bool:
    """32 url-safe base64 bytes."""
    try:
        return len(base64.urlsafe_b64decode(raw.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def secret_keys(
    env: Mapping[str, str], database: str, key_store: KeyStore | None
) -> tuple[tuple[bytes, ...], str | None]:
    """The keys (the first seals; any after it, during a rotation, still open) and, when the
    key came from beside the SQLite file, that file's path."""
    hint = "make one with: reelhook keygen"
    raw = env.get("REELHOOK_SECRET_KEY", "").strip()
    if not raw:
        configured = [name for name in DESTINATION_SETTINGS if env.get(name, "").strip()]
        if configured:
            raise SettingsError(
                f"REELHOOK_SECRET_KEY is required with {configured[0]} (destinations are"
                f" stored encrypted with it); {hint}"
            )
        if key_store is None or is_postgres(database):
            raise SettingsError(f"REELHOOK_SECRET_KEY is required (a Fernet key); {hint}")
        return (key_store(database),), key_file_of(database)
    keys = comma_list(raw)
    for position, key in enumerate(keys, start=1):
        if not is_fernet_key(key):
            which = "" if len(keys) == 1 else f"key {position} of {len(keys)} in "
            raise SettingsError(
                f"{which}REELHOOK_SECRET_KEY is not a Fernet key (32 url-safe base64 bytes);"
                f" {hint} (to rotate: the new key first, the old after it, comma-separated)"
            )
    if len(set(keys)) != len(keys):
        raise SettingsError("REELHOOK_SECRET_KEY lists one key twice")
    return tuple(key.encode() for key in keys), None
