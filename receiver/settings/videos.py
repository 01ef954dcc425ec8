"""Kept videos' settings: where they go (a folder, a cloud URL, or off), told from the setting
alone (no store client imported), and how the copies are made, served and kept."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from receiver.errors import SettingsError
from receiver.settings.values import bounded, flag, integer, seconds

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


@dataclass(frozen=True)
class VideoSettings:
    """Kept videos: where they go (REELHOOK_VIDEO_STORE: a folder, a cloud URL, or off; empty:
    the default for the database) and how the copies are made, served and kept."""

    store: str = ""
    store_options: Mapping[str, str] = field(default_factory=dict, repr=False)  # AWS_* and kin
    wait: float = 60.0  # longest a succeeded task's notices wait for the copy
    max_bytes: int = 2 << 30
    timeout: float = 1800.0  # longest one copy may take
    link_lifetime: float = 7 * 86400.0
    keep_days: float | None = None  # None: forever

    def location(self, database: str) -> str:
        """Where the videos go: the setting, or beside the SQLite file (a folder in the working
        directory with DATABASE_URL); "off" keeps links only."""
        return self.store or default_location(database)

    def kept(self, database: str) -> bool:
        """Whether videos are kept at all."""
        return self.location(database) != OFF


# AWS_* settings of an S3-compatible video store, as obstore names them.
_AWS_OPTIONS = {
    "AWS_ENDPOINT_URL": "endpoint", "AWS_ENDPOINT": "endpoint", "AWS_REGION": "region",
    "AWS_DEFAULT_REGION": "region", "AWS_ACCESS_KEY_ID": "access_key_id",
    "AWS_SECRET_ACCESS_KEY": "secret_access_key", "AWS_SESSION_TOKEN": "session_token",
}


def videos_from_environ(env: Mapping[str, str]) -> VideoSettings:
    """The REELHOOK_VIDEO_* settings (and AWS_* for an S3-compatible store)."""
    keep_days = bounded(
        env, "REELHOOK_VIDEO_KEEP_DAYS", 0.0, 0.0, 36500.0, float, "a number of days", " days"
    )
    options = {ours: env[name] for name, ours in _AWS_OPTIONS.items() if env.get(name)}
    if flag(env, "AWS_ALLOW_HTTP", False):
        options["allow_http"] = "true"
    return VideoSettings(
        store=_video_store(env.get("REELHOOK_VIDEO_STORE", "").strip()),
        store_options=options,
        wait=seconds(env, "REELHOOK_VIDEO_WAIT", 60.0, 0.0, 3600.0),
        max_bytes=integer(env, "REELHOOK_VIDEO_MAX_BYTES", 2 << 30, 1, 1 << 40),
        timeout=seconds(env, "REELHOOK_VIDEO_TIMEOUT", 1800.0, 1.0, 86400.0),
        link_lifetime=seconds(env, "REELHOOK_VIDEO_LINK_LIFETIME", 7 * 86400.0, 1.0,
                               366 * 86400.0),
        keep_days=keep_days or None,
    )


def _video_store(value: str) -> str:
    """REELHOOK_VIDEO_STORE: off, a cloud URL with a bucket, or a folder (a path or file://)."""
    if value.lower() == OFF:
        return OFF
    scheme = urlsplit(value).scheme.lower()
    value = scheme + value[len(scheme):] if scheme else value  # S3://b is s3://b
    if value.startswith(CLOUD_SCHEMES):
        if not urlsplit(value).netloc:
            raise SettingsError(f"REELHOOK_VIDEO_STORE must name a bucket: {scheme}://bucket/prefix")
        return value
    if scheme and scheme != "file" and len(scheme) > 1:
        raise SettingsError(
            f"REELHOOK_VIDEO_STORE must be a folder, s3://bucket/prefix, gs://bucket, az://"
            f"container, or off; got a {scheme}:// URL"
        )
    return value
