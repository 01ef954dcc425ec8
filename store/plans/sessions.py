"""Dashboard sessions ended by signing out: a signed cookie stays valid until it expires, so
the session id is kept here until then and every process refuses it."""

from __future__ import annotations

from store.sql import Plan, count, value


def end(sid: str, expires_at: float, now: float) -> Plan[None]:
    """Record the session as ended (once), and forget those past their expiry."""
    yield count("DELETE FROM ended_sessions WHERE expires_at < :now", now=now)
    yield count(
        "INSERT INTO ended_sessions (sid, expires_at) VALUES (:sid, :expires_at)"
        " ON CONFLICT (sid) DO NOTHING",
        sid=sid, expires_at=expires_at,
    )


def is_ended(sid: str) -> Plan[bool]:
    """Whether the session was ended by signing out."""
    found = yield value("SELECT 1 FROM ended_sessions WHERE sid = :sid", sid=sid)
    return found is not None
