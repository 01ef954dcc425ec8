"""Per-task callback secrets, kept as keyed hashes, and encryption of user-given secrets.

A callback secret is 32 random bytes and a tag (an HMAC of the task id and those bytes), handed
to the provider once and stored only as HMAC-SHA256 under a key derived from REELHOOK_SECRET_KEY:
a copy of the database alone cannot forge a callback. The tag lets a callback be refused before
any database work, so a flood of forged callbacks costs one HMAC each. Destinations given by
users (URLs, webhook secrets) are stored encrypted with Fernet under the same setting.

REELHOOK_SECRET_KEY may list keys, newest first: the first seals and makes new callback secrets,
every one opens and checks (a rotation: `reelhook rotate-key` re-seals under the first).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBox:
    """Everything reelhook does with REELHOOK_SECRET_KEY: `fernet_key` seals and signs, the
    `older` keys (a rotation under way) still open and check."""

    def __init__(self, fernet_key: bytes, *older: bytes) -> None:
        keys = (fernet_key, *older)
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        # Copied per use: cheaper than hmac.digest, which also lets go of the GIL on every call
        # (on the callback path that hands the core to the writer thread twice per callback).
        self._keyed = [hmac.new(_hash_key(key), digestmod=hashlib.sha256) for key in keys]

    @property
    def rotating(self) -> bool:
        """Whether older keys are listed after the first."""
        return len(self._keyed) > 1

    def new_callback_secret(self, task_id: str) -> str:
        """A fresh per-task secret: 32 random bytes plus a tag binding them to the task."""
        nonce = secrets.token_urlsafe(32)
        return f"{nonce}.{self._tag(self._keyed[0], task_id, nonce)}"

    def vouches(self, task_id: str, presented: str | None) -> bool:
        """Cheap first check, with no database work: was this secret made by us for this task
        (under any listed key; each is compared, always)?"""
        if not presented or not presented.isascii() or presented.count(".") != 1:
            return False
        nonce, tag = presented.split(".")
        found = False
        for keyed in self._keyed:
            found |= hmac.compare_digest(self._tag(keyed, task_id, nonce), tag)
        return found

    def _tag(self, keyed: hmac.HMAC, task_id: str, nonce: str) -> str:
        mac = _mac(keyed, f"{task_id}.{nonce}".encode())
        return base64.urlsafe_b64encode(mac[:18]).decode()

    def hash_secret(self, secret: str) -> str:
        """The keyed hash stored in place of the secret (under the first key)."""
        return _mac(self._keyed[0], secret.encode()).hex()

    def matches(self, presented: str | None, stored_hash: str | None) -> bool:
        """Constant-time check of a presented secret against the stored hash, made under any
        listed key (each is compared, always)."""
        if not presented or not stored_hash or not presented.isascii():
            return False
        found = False
        for keyed in self._keyed:
            found |= hmac.compare_digest(_mac(keyed, presented.encode()).hex(), stored_hash)
        return found

    def encrypt(self, text: str) -> str:
        """Encrypt a user-given secret for storage (under the first key)."""
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt a stored secret; ValueError when no listed key opens it."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored secret cannot be decrypted with REELHOOK_SECRET_KEY") from exc

    def opens(self, token: str) -> bool:
        """Whether a listed key opens this sealed value."""
        try:
            self._fernet.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, token: str) -> str:
        """The same value sealed under the first key; ValueError when no listed key opens it."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored secret cannot be decrypted with REELHOOK_SECRET_KEY") from exc


def _hash_key(fernet_key: bytes) -> bytes:
    return hmac.new(fernet_key, b"reelhook callback secret v1", hashlib.sha256).digest()


def derived_alerts_secret(fernet_key: bytes) -> str:
    """The whsec_ key webhook alerts are signed with when REELHOOK_ALERTS_SECRET is unset: made
    from REELHOOK_SECRET_KEY, so every process and restart signs alike."""
    raw = hmac.new(fernet_key, b"reelhook alerts signing key v1", hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(raw).decode()


def _mac(keyed: hmac.HMAC, data: bytes) -> bytes:
    mac = keyed.copy()
    mac.update(data)
    return mac.digest()


def tokens_match(presented: str, accepted: tuple[str, ...]) -> bool:
    """Constant-time check against every accepted token (all are compared, always)."""
    found = False
    for token in accepted:
        found |= hmac.compare_digest(_raw(presented), _raw(token))
    return found


FULL, READ = "full", "read"


def token_scope(presented: str, full: tuple[str, ...], read: tuple[str, ...]) -> str | None:
    """What a presented token may do: FULL (REELHOOK_API_TOKEN), READ (REELHOOK_READ_TOKENS:
    look, never change), or None (not a token of this server). Both lists are always compared."""
    is_full = tokens_match(presented, full)
    is_read = tokens_match(presented, read)
    return FULL if is_full else READ if is_read else None


def may(scope: str | None, method: str) -> bool:
    """Whether a request with this method is allowed to a token of `scope`."""
    return scope == FULL or (scope == READ and method in ("GET", "HEAD", "OPTIONS"))


def _raw(text: str) -> bytes:
    # Header values that were not valid UTF-8 arrive with surrogates; they must compare, not crash.
    return text.encode("utf-8", "surrogatepass")


def redact_url(url: str) -> str:
    """A URL safe to show: scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def new_fernet_key() -> str:
    """A new REELHOOK_SECRET_KEY."""
    return Fernet.generate_key().decode()
