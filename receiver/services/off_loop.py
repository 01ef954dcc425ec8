"""Work on large inputs (request bodies of megabytes) run in threads of their own, not on the
event loop: decoding, checking and hashing them took the loop for seconds. Two threads at most,
so a burst of large bodies neither starves the default executor (DNS lookups for notices use
it) nor holds more than two decoded bodies in memory at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
THREADS = 2
_executor: ThreadPoolExecutor | None = None


async def off_loop(work: Callable[[], T]) -> T:
    """`work()`'s result, computed in one of the large-input threads."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(THREADS, thread_name_prefix="reelhook-large-input")
    return await asyncio.get_running_loop().run_in_executor(_executor, work)
