"""Logging for the long-running commands."""

from __future__ import annotations

import logging


def configure_logging() -> None:
    """INFO logs on stderr; httpx's own request lines are left out, since the URLs they print
    can be users' (a presigned image URL carries its signature in the query)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
