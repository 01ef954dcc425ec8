"""The process's background loops (dispatcher, submit queue, poller, video keeper), watched.

Each loop handles its own errors round by round; this is the backstop. A loop that ends for any
reason but shutdown is logged CRITICAL, named by /healthz (503) until it runs again, and
restarted after a pause that doubles while it keeps dying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("reelhook.loops")
Loop = Callable[[], Awaitable[None]]
FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
HEALTHY_RUN = 60.0  # a loop that ran this long before ending starts again after the first pause
STOP_TRIES = 30  # seconds `stop` keeps cancelling a loop that goes on


class BackgroundLoops:
    """Named background loops, restarted when they end other than by `stop`."""

    def __init__(self, first_pause: float = FIRST_PAUSE, longest_pause: float = LONGEST_PAUSE):
        self._first_pause = first_pause
        self._longest_pause = longest_pause
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self.down: dict[str, str] = {}  # loop name -> why it ended, until it runs again

    def start(self, name: str, loop: Loop) -> None:
        """Run `loop` under watch until `stop`."""
        self._jobs[name] = asyncio.get_running_loop().create_task(
            self._watch(name, loop), name=f"reelhook-{name}"
        )

    def failure(self) -> str | None:
        """Why some loop is not running now, or None while every loop runs."""
        if not self.down:
            return None
        return "; ".join(f"the {name} loop ended ({why}) and restarts soon"
                         for name, why in sorted(self.down.items()))

    async def stop(self) -> None:
        """Cancel every loop and wait for each to end: again and again, since a cancellation
        can arrive as another error (asyncio's timeouts in a database driver turn it into
        TimeoutError) and be handled as one."""
        jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job.cancel()
        for job in jobs:
            for _ in range(STOP_TRIES):
                await asyncio.wait({job}, timeout=1.0)
                if job.done():
                    break
                job.cancel()
            else:
                log.critical("the %s loop would not stop", job.get_name())
            if job.done() and not job.cancelled():
                with contextlib.suppress(Exception):
                    job.result()

    async def wait(self) -> None:
        """Until the loops are stopped (by `stop` or by cancelling the caller)."""
        await asyncio.gather(*self._jobs.values())

    async def _watch(self, name: str, loop: Loop) -> None:
        pause = self._first_pause
        while True:
            started = time.monotonic()
            try:
                await loop()
                why = "it returned"
            except Exception as exc:
                if _stopping():  # a cancellation that arrived as another error: stop
                    raise asyncio.CancelledError from exc
                why = f"{type(exc).__name__}: {exc}"
            if time.monotonic() - started >= HEALTHY_RUN:
                pause = self._first_pause
            self.down[name] = why
            log.critical("the %s loop ended (%s); restarting it in %.0f s", name, why, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, self._longest_pause)
            del self.down[name]
            log.warning("the %s loop starts again", name)


def _stopping() -> bool:
    """Whether the running task has been asked to stop (cancelled)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
