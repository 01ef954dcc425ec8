"""The event loop that `reelhook serve` and `reelhook worker` run on (REELHOOK_EVENT_LOOP).

uvloop (libuv) runs the same asyncio code with less CPU per request than the standard library's
selector loop (bench/README.md); `asyncio` stays available for debugging and where uvloop does
not install (Windows).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """A new event loop of the named kind (one of receiver.settings.event_loop.LOOPS)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T], name: str) -> T:
    """asyncio.run(main), on an event loop of the named kind."""
    with asyncio.Runner(loop_factory=lambda: new_loop(name)) as runner:
        return runner.run(main)
