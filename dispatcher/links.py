"""Signed links to a task's kept video: `/v1/tasks/{id}/video?expires=..&sig=..`, so a person can
open it from Slack, email or the dashboard without the API token. The signature is an HMAC-SHA256
under a key derived from REELHOOK_SECRET_KEY (never the key itself), over the task id and the
link's expiry; it is compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from urllib.parse import quote

_PURPOSE = b"reelhook video links v1"


@dataclass(frozen=True)
class VideoLinks:
    """Makes and checks signed video links for one reelhook."""

    secret_key: bytes = field(repr=False)
    public_url: str
    lifetime: float  # seconds a link stays valid
    older_keys: tuple[bytes, ...] = field(default=(), repr=False)  # links they signed still open

    def url(self, task_id: str, now: float | None = None) -> str:
        """A link to the task's kept video, valid for `lifetime` from now."""
        expires = int((time.time() if now is None else now) + self.lifetime)
        path = f"/v1/tasks/{quote(task_id, safe='')}/video"
        query = f"expires={expires}&sig={_sign(self.secret_key, task_id, expires)}"
        return f"{self.public_url.rstrip('/')}{path}?{query}"

    def check(self, task_id: str, expires: str, sig: str, now: float | None = None) -> str | None:
        """None when the link is good; else why it is not (bad signature, expired)."""
        if not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
            return "expires must be a Unix time in seconds"
        if not (sig.isascii() and task_id.isascii()):  # no link of ours holds anything else
            return "the link's signature does not match"
        signed = False
        for key in (self.secret_key, *self.older_keys):
            signed |= hmac.compare_digest(_sign(key, task_id, int(expires)), sig)
        if not signed:
            return "the link's signature does not match"
        if int(expires) < (time.time() if now is None else now):
            return "the link has expired"
        return None


def _sign(secret_key: bytes, task_id: str, expires: int) -> str:
    key = hmac.new(secret_key, _PURPOSE, hashlib.sha256).digest()
    message = f"{task_id}.{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
