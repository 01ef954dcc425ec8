"""Per-task callback secrets, kept as keyed hashes, and encryption of user-given secrets.

A callback secret is 32 random bytes, handed to the provider once and stored only as
HMAC-SHA256 under a key derived from REELHOOK_SECRET_KEY: a copy of the database alone cannot
forge a callback. Destinations given by users (URLs, webhook secrets) are stored encrypted with
Fernet under the same setting.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Everything reelhook does with REELHOOK_SECRET_KEY."""

    def __init__(self, fernet_key: bytes) -> None:
        self._fernet = Fernet(fernet_key)
        self._hash_key = hmac.new(
            fernet_key, b"reelhook callback secret v1", hashlib.sha256
        ).digest()

    @staticmethod
    def new_callback_secret() -> str:
        """A fresh per-task secret: 32 random bytes, URL-safe text."""
        return secrets.token_urlsafe(32)

    def hash_secret(self, secret: str) -> str:
        """The keyed hash stored in place of the secret."""
        return hmac.new(self._hash_key, secret.encode(), hashlib.sha256).hexdigest()

    def matches(self, presented: str | None, stored_hash: str | None) -> bool:
        """Constant-time check of a presented secret against the stored hash."""
        if not presented or not stored_hash:
            return False
        return hmac.compare_digest(self.hash_secret(presented), stored_hash)

    def encrypt(self, text: str) -> str:
        """Encrypt a user-given secret for storage."""
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt a stored secret; ValueError when the key does not fit."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored secret cannot be decrypted with REELHOOK_SECRET_KEY") from exc


def tokens_match(presented: str, accepted: tuple[str, ...]) -> bool:
    """Constant-time check against every accepted token (all are compared, always)."""
    found = False
    for token in accepted:
        found |= hmac.compare_digest(presented.encode(), token.encode())
    return found


def redact_url(url: str) -> str:
    """A URL safe to show: scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def new_fernet_key() -> str:
    """A new REELHOOK_SECRET_KEY."""
    return Fernet.generate_key().decode()
