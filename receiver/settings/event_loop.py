"""REELHOOK_EVENT_LOOP: the event loops serve and worker may run on (receiver/runtime/
event_loops.py makes them)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from receiver.errors import SettingsError

LOOPS = ("uvloop", "asyncio")


def default_loop() -> str:
    """uvloop where it is installed, else the standard library's loop."""
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def event_loop(env: Mapping[str, str]) -> str:
    """REELHOOK_EVENT_LOOP: uvloop (the default where installed) or asyncio."""
    installed = default_loop()
    value = (env.get("REELHOOK_EVENT_LOOP") or installed).strip().lower()
    if value not in LOOPS:
        raise SettingsError(f"REELHOOK_EVENT_LOOP must be one of {', '.join(LOOPS)}; got {value!r}")
    if value != "asyncio" and installed != value:
        raise SettingsError(f"REELHOOK_EVENT_LOOP={value} but {value} is not installed here;"
                            " install it or set REELHOOK_EVENT_LOOP=asyncio")
    return value
