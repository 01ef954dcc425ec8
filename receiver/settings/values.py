"""Readers of one setting each: a bounded number, a flag, a URL, a list. Each raises
SettingsError naming the setting and what it takes; none echoes a value that may be a secret."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from receiver.errors import SettingsError


def integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number from `low` to `high`; `default` when unset."""
    return int(bounded(env, name, default, low, high, int, "a whole number", ""))


def url(env: Mapping[str, str], name: str, default: str) -> str:
    """An http(s) URL with a host; `default` when unset."""
    value = env.get(name) or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # The value itself is never echoed: a webhook URL is a secret.
        shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise SettingsError(f"{name} must be an http(s) URL with a host; got {shown}")
    return value


def optional_url(env: Mapping[str, str], name: str) -> str | None:
    """An http(s) URL with a host, or None when unset."""
    return url(env, name, "") if env.get(name) else None


def host_ports(env: Mapping[str, str], name: str) -> frozenset[tuple[str, int]]:
    """host:port items separated by commas (an IPv6 host in brackets); none when unset."""
    found: set[tuple[str, int]] = set()
    for item in filter(None, (part.strip() for part in env.get(name, "").split(","))):
        try:
            parts = urlsplit(f"//{item}")
            host, port = parts.hostname, parts.port
        except ValueError:
            host, port = None, None
        if not host or port is None or parts.path or parts.username:
            raise SettingsError(f"{name} takes host:port items separated by commas, such as"
                                f" 10.0.0.5:8080 or [fd00::5]:443; got {item!r}")
        found.add((host.rstrip("."), port))
    return frozenset(found)


def seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """A number of seconds from `low` to `high`; `default` when unset."""
    return bounded(env, name, default, low, high, float, "a number of seconds", " seconds")


def bounded(
    env: Mapping[str, str],
    name: str,
    default: float,
    low: float,
    high: float,
    parse: Callable[[str], float],
    kind: str,
    unit: str,
) -> float:
    """The setting parsed and checked against [low, high]; the default when unset."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {kind}; got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be from {_shown(low)} to {_shown(high)}{unit};"
                            f" got {raw}")
    return value


def _shown(number: float) -> str:
    """A bound as people write it: 31622400, not 3.16224e+07."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """on/off, true/false or 1/0; `default` when unset."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in ("on", "off", "true", "false", "1", "0"):
        raise SettingsError(f"{name} must be on or off; got {raw!r}")
    return raw in ("on", "true", "1")


def comma_list(raw: str) -> tuple[str, ...]:
    """The non-empty, stripped parts of a comma-separated value."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())
