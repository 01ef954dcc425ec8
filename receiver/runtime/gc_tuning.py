"""The garbage collector tuned for a long-lived process (`reelhook serve` and `reelhook worker`)."""

from __future__ import annotations

import gc

# Collect the youngest generation every this many allocations rather than 700.
YOUNG_THRESHOLD = 50_000
# Seconds after serve has started before its start-up objects are collected and frozen.
TUNE_AFTER_START = 1.0


def quiet_start() -> None:
    """Collect rarely while the process starts (set first thing in `main`).

    Starting imports some 700 modules: hundreds of thousands of objects that live as long as the
    process. With the default thresholds the collector walks them again and again while they are
    made (~30 ms of `reelhook serve`'s start, bench/README.md); with these it does not, and a
    long-lived command freezes them once started (`tune_for_long_life`).
    """
    gc.set_threshold(YOUNG_THRESHOLD, 20, 100)


def tune_for_long_life() -> None:
    """Freeze what starting up made and collect the youngest generation less often.

    Everything made while starting lives as long as the process: frozen, the collector never
    walks it again. Callbacks and sends allocate many short-lived containers, so the youngest
    generation is collected every 50,000 allocations rather than 700. Under callback load this cut
    the time spent collecting from ~18 to ~2 µs per callback, and the worker's sends spent a tenth
    of their time collecting before (bench/README.md); a few MB more is held between collections.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 100)
