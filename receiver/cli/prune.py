"""`reelhook prune [--dry-run]`: delete (or count) the events, delivery attempts and inbound
messages older than REELHOOK_KEEP_DAYS, as the worker does every hour."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from typing import Any

from receiver.cli.support import add_command
from receiver.settings import (
    database_from_environ,
    direct_database_from_environ,
    keep_days_from_environ,
)
from store import open_store

PRUNE_SETTINGS = ("DATABASE_URL", "REELHOOK_DATABASE", "REELHOOK_KEEP_DAYS")


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register prune."""
    command = add_command(
        commands, "prune", "delete events, attempts and inbound messages past REELHOOK_KEEP_DAYS",
        PRUNE_SETTINGS, lambda args: run(args, env),
        "Tasks, their final state and their deliveries stay. The worker (and tick) does this"
        " every hour on its own; --dry-run only counts what would go.",
    )
    command.add_argument("--dry-run", action="store_true", help="count, delete nothing")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Prune (or count); print what per table. Needs the database alone, not its key."""
    keep_days = keep_days_from_environ(env)
    if keep_days is None:  # a setting that is fine, not an error: there is simply nothing to do
        print("REELHOOK_KEEP_DAYS is 0 (keep everything): nothing is old enough to delete")
        return 0
    database = database_from_environ(env)
    counts = asyncio.run(_prune(database, direct_database_from_environ(env), keep_days,
                                args.dry_run))
    verb = "would delete" if args.dry_run else "deleted"
    shown = ", ".join(f"{count} {table}" for table, count in counts.items())
    print(f"{verb} {shown} (older than {keep_days:g} days)")
    return 0


async def _prune(
    database: str, direct: str | None, keep_days: float, dry_run: bool
) -> dict[str, int]:
    from receiver.services.retention import count_old, prune

    store = await open_store(database, migrate=False, direct=direct)
    try:
        if dry_run:
            return await count_old(store, keep_days)
        return await prune(store, keep_days)
    finally:
        await store.close()
