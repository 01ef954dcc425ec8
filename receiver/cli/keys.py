"""`reelhook rotate-key`: re-seal the database's sealed values under REELHOOK_SECRET_KEY's first
key, once the new key is listed first and the old one after it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from receiver.cli.support import add_command
from receiver.errors import SettingsError
from receiver.settings import Settings, from_environ
from store import open_store

if TYPE_CHECKING:
    from receiver.services.sealing import Rotation

ROTATE_SETTINGS = ("DATABASE_URL", "REELHOOK_DATABASE", "REELHOOK_SECRET_KEY")
HOW = (
    "To change keys: set REELHOOK_SECRET_KEY to the new key, a comma, and the old key (every"
    " process: serve, worker, tick), run rotate-key once, and keep the old key listed until the"
    " tasks submitted before have finished and video links already sent have expired: their"
    " callback secrets and links were made under it. Then list the new key alone."
)


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register rotate-key."""
    add_command(
        commands, "rotate-key", "re-seal the database's stored secrets under the new key",
        ROTATE_SETTINGS, lambda args: run(args, env), HOW,
    )


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Re-seal everything; 1 when some values open with none of the listed keys."""
    settings = from_environ(env, need_api_token=False)
    if not settings.older_secret_keys:
        raise SettingsError(
            "REELHOOK_SECRET_KEY lists one key: list the new key first and the old one after it"
            " (comma-separated) to rotate"
        )
    done = asyncio.run(rotate(settings))
    print(f"re-sealed {done.resealed} stored values under the first key of REELHOOK_SECRET_KEY")
    if done.unopened:
        print(f"reelhook: {done.unopened} stored values open with none of the listed keys;"
              " they were left as they were", file=sys.stderr)
        return 1
    return 0


async def rotate(settings: Settings) -> Rotation:
    """Open the database and re-seal its values."""
    from receiver.services.sealing import rotate_key, secret_box

    store = await open_store(settings.database, migrate=False, timeouts=settings.db_timeouts,
                             direct=settings.direct_database)
    try:
        return await rotate_key(store.sealed, secret_box(settings))
    finally:
        await store.close()
