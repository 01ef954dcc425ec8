"""Where kept videos go, told from the setting alone (no store client imported): a folder, a
cloud URL, or off."""

from __future__ import annotations

import os

CLOUD_SCHEMES = ("s3://", "s3a://", "gs://", "az://", "abfs://", "abfss://", "azure://")
OFF = "off"


def default_location(database: str) -> str:
    """Where videos go when REELHOOK_VIDEO_STORE is unset: beside the SQLite file, or a folder
    in the working directory with DATABASE_URL."""
    if database.startswith(("postgres://", "postgresql://")):
        return os.path.join(".", "reelhook.videos")
    return f"{database}.videos"


def is_local(where: str) -> bool:
    """True for a folder on this machine's disk."""
    return where != OFF and not where.startswith(CLOUD_SCHEMES)
