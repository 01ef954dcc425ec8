"""The event loop the comparison servers use: the same one `reelhook serve` uses, for fairness."""

from __future__ import annotations


def install_loop() -> str:
    """Use uvloop when reelhook would; return the loop's name for the report."""
    try:
        from receiver.loop import install as install_reelhook_loop
    except ImportError:
        return "asyncio"
    return install_reelhook_loop()
