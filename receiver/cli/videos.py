"""`reelhook videos backfill` (queue copies for succeeded tasks that have none, in the database)
and `reelhook videos get ID -o FILE` (download a kept copy through the client API)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from receiver.cli.support import CLIENT_SETTINGS, ApiClient, add_command
from receiver.errors import SettingsError
from receiver.runtime.local_key import local_key
from receiver.settings import Settings, from_environ
from store import open_store

BACKFILL_SETTINGS = ("DATABASE_URL", "REELHOOK_DATABASE", "REELHOOK_VIDEO_STORE")


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register videos (backfill, get)."""
    videos = add_command(
        commands, "videos", "keep and fetch finished videos",
        (*BACKFILL_SETTINGS, *CLIENT_SETTINGS), lambda args: run(args, env),
        "backfill: queue a copy of every succeeded task's video that has none yet and whose"
        " provider link has not expired (serve, worker or tick then make them).\n"
        "get ID -o FILE: download the kept copy of task ID from a running server.",
    )
    videos.add_argument("action", choices=("backfill", "get"))
    videos.add_argument("task_id", nargs="?", metavar="ID", help="the task (get)")
    videos.add_argument("-o", "--output", type=Path, help="the file to write (get)")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run one videos action."""
    if args.action == "backfill":
        settings = from_environ(env, need_api_token=False, key_store=local_key)
        queued = asyncio.run(backfill(settings))
        print(f"queued {queued} video copies")
        return 0
    if not args.task_id or args.output is None:
        raise SettingsError("videos get needs a task ID and -o FILE")
    size = ApiClient(env).download(f"/v1/tasks/{args.task_id}/video", args.output)
    print(f"wrote {size} bytes to {args.output}")
    return 0


async def backfill(settings: Settings) -> int:
    """Queue the missing copies; how many were queued."""
    from receiver.runtime.videos import video_wait  # the video store's client: only here

    if video_wait(settings) is None:
        raise SettingsError("REELHOOK_VIDEO_STORE is off: there is nowhere to keep videos")
    store = await open_store(settings.database, migrate=False, timeouts=settings.db_timeouts,
                             direct=settings.direct_database)
    try:
        return await store.videos.backfill()
    finally:
        await store.close()
