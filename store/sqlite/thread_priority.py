"""The database's background threads run at a lower priority than the event loop."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

# Linux nice value of the writer and checkpointer threads.
BACKGROUND_NICE = 5


def yield_to_event_loop() -> None:
    """Lower the calling thread's scheduling priority (Linux only; elsewhere nothing happens).

    When the writer shares a core with the event loop, waking it for every new job preempts the
    loop, and each sqlite3 call then hands the GIL back and forth. At a lower priority the writer
    runs when the loop waits, and so takes bigger batches with far fewer switches (callback
    ingest gained ~20%, bench/README.md; at nice 10 the fan-out lost as much, at 5 it does not).
    It still gets its share of a busy core; what it writes and when it answers are unchanged.
    """
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
