"""Dashboard sign-in: a signed session cookie after an API token, and CSRF tokens for forms.

The cookie carries a random session id, its expiry and a keyed fingerprint (an HMAC) of the token
used to sign in, signed with a key derived from REELHOOK_SECRET_KEY; removing a token from
REELHOOK_API_TOKEN therefore ends the sessions it opened. Signing out records the session id in
the database until the cookie would have expired, so a copied cookie is refused too. A form's
CSRF token is an HMAC of the session id, so it cannot be read or made by another site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from receiver import keys

COOKIE = "reelhook_session"
LOGIN_COOKIE = "reelhook_login"
LIFETIME = 12 * 3600


@dataclass(frozen=True)
class Session:
    """A signed-in operator: the session id and the CSRF token of its forms."""

    sid: str
    csrf: str
    read_only: bool = False  # signed in with one of REELHOOK_READ_TOKENS: looks, never changes
    expires: int = 0  # Unix seconds


def _key(request: web.Request) -> bytes:
    secret = request.app[keys.SETTINGS].secret_key
    return hmac.new(secret, b"reelhook dashboard session", hashlib.sha256).digest()


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _fingerprint(key: bytes, token: str) -> str:
    # Keyed, so that a cookie cannot be used to guess the token offline.
    return _sign(key, f"token:{token}")[:32]


async def read_session(request: web.Request) -> Session | None:
    """The session of a valid, unexpired cookie whose token is still accepted and that was not
    ended by signing out (asked of the database, so in every process); else None."""
    raw = request.cookies.get(COOKIE, "")
    parts = raw.split(".")
    if len(parts) != 4:
        return None
    sid, expires, fingerprint, signature = parts
    key = _key(request)
    if not hmac.compare_digest(_sign(key, f"{sid}.{expires}.{fingerprint}"), signature):
        return None
    if not expires.isdigit() or int(expires) < time.time():
        return None
    settings = request.app[keys.SETTINGS]
    full = _opened_by(key, fingerprint, settings.api_tokens)
    if not full and not _opened_by(key, fingerprint, settings.read_tokens):
        return None
    if await request.app[keys.STORE].sessions.is_ended(sid):
        return None
    return Session(sid, _sign(key, f"csrf:{sid}"), read_only=not full, expires=int(expires))


def _opened_by(key: bytes, fingerprint: str, tokens: tuple[str, ...]) -> bool:
    found = False
    for token in tokens:  # every one compared, always
        found |= hmac.compare_digest(_fingerprint(key, token), fingerprint)
    return found


def start_session(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """Set the session cookie for an operator who signed in with `token`."""
    sid = secrets.token_urlsafe(18).replace(".", "")
    key = _key(request)
    payload = f"{sid}.{int(time.time()) + LIFETIME}.{_fingerprint(key, token)}"
    _set(request, response, COOKIE, f"{payload}.{_sign(key, payload)}", LIFETIME)
    response.del_cookie(LOGIN_COOKIE, path="/dashboard")


async def end_session(
    request: web.Request, session: Session, response: web.StreamResponse
) -> None:
    """End the session for good (its cookie and CSRF token are refused from now on, by every
    process) and forget the cookie."""
    await request.app[keys.STORE].sessions.end(session.sid, session.expires)
    response.del_cookie(COOKIE, path="/dashboard")


def login_csrf(request: web.Request) -> tuple[str, str | None]:
    """The sign-in form's CSRF token, bound to a short-lived pre-session cookie, and the new
    cookie value to set when the browser has none yet (see `remember_login`)."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    fresh = None
    if len(nonce) < 16:
        nonce = fresh = secrets.token_urlsafe(18)
    return _sign(_key(request), f"login:{nonce}"), fresh


def remember_login(request: web.Request, response: web.StreamResponse, nonce: str) -> None:
    """Set the pre-session cookie the sign-in form's CSRF token is bound to."""
    _set(request, response, LOGIN_COOKIE, nonce, 3600)


def csrf_ok(expected: str, given: object) -> bool:
    """Constant-time comparison of a form's CSRF token with the expected one."""
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(expected, given)


def _set(
    request: web.Request, response: web.StreamResponse, name: str, value: str, age: int
) -> None:
    secure = request.secure or request.app[keys.SETTINGS].public_url.startswith("https://")
    response.set_cookie(
        name, value, max_age=age, path="/dashboard", httponly=True, samesite="Strict",
        secure=secure,
    )
