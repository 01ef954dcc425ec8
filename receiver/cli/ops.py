"""Server commands for running reelhook on a platform: `worker` (the notice worker as a process of
its own), `migrate` (the release phase) and `tick` (every piece of due work once, then exit, for a
scheduler on hosts that stop processes between requests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from receiver.cli.support import add_command
from receiver.logs import configure_logging
from receiver.providers import POLLABLE
from receiver.runtime import event_loops
from receiver.runtime.local_key import local_key
from receiver.settings import (
    Settings,
    database_from_environ,
    direct_database_from_environ,
    from_environ,
)
from store import StoreUnavailable, migrate_database, schema_state
from store.interface import TaskStore
from store.models import iso_from_epoch
from store.opening import shown

if TYPE_CHECKING:
    from receiver.services.videos.keeper import VideoKeeper

log = logging.getLogger("reelhook")
MIGRATE_SETTINGS = ("DATABASE_URL", "DIRECT_DATABASE_URL", "REELHOOK_DATABASE")
TICK_SETTINGS = (
    "DATABASE_URL", "REELHOOK_DATABASE", "REELHOOK_SECRET_KEY", "REELHOOK_PUBLIC_URL",
    "{PIAPI,WAVE,APIMART,ONEMIN}_API_KEY and _BASE_URL", "the notice settings of reelhook worker",
)
WORKER_SETTINGS = (
    "DATABASE_URL", "REELHOOK_DATABASE", "REELHOOK_DB_POOL_SIZE", "REELHOOK_SECRET_KEY",
    "REELHOOK_SMTP_URL", "REELHOOK_EMAIL_FROM",
    "REELHOOK_RETRY_SCHEDULE", "REELHOOK_DELIVERY_TIMEOUT", "REELHOOK_SLACK_MIN_INTERVAL",
    "REELHOOK_DISPATCH_INTERVAL", "REELHOOK_ALLOW_PRIVATE_URLS", "REELHOOK_LOG_FORMAT",
    "REELHOOK_LOG_LEVEL",
    "REELHOOK_EVENT_LOOP", "REELHOOK_SLACK_WEBHOOK_URL", "REELHOOK_NOTIFY_ON",
)


# Longest a tick keeps sending notices before it exits; what is left goes out at the next tick.
TICK_NOTICE_BUDGET = 120.0
TICK_PRUNE_BUDGET = 20.0  # seconds of deleting old rows per tick; the rest at the next
# Longest a whole tick may take: a database or provider that hangs cannot keep it running.
TICK_DEADLINE = TICK_NOTICE_BUDGET + 60.0


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register worker, migrate and tick."""
    add_command(commands, "worker", "run the notice worker alone (a second process)",
                WORKER_SETTINGS, lambda args: run_worker(env),
                "Sends due notices from the database until SIGTERM or Ctrl-C, then hands back"
                " what it holds. It serves no client API, so it needs no REELHOOK_API_TOKEN.")
    add_command(commands, "migrate", "apply the database's pending migrations and exit",
                MIGRATE_SETTINGS, lambda args: run_migrate(env),
                "For the release phase (Procfile `release: reelhook migrate`); `serve`, `worker`"
                " and `tick` refuse a database that is behind or ahead. Safe to run twice.")
    add_command(commands, "tick", "do every piece of due work once and exit", TICK_SETTINGS,
                lambda args: run_tick(env),
                "Fails sends whose claim ran out, sends held submissions, polls due tasks and"
                " sends due notices (retries included), then exits: run it from a scheduler"
                " (Heroku Scheduler, cron, a Kubernetes CronJob) when serve runs with"
                " REELHOOK_BACKGROUND=off.")


def run_worker(env: Mapping[str, str]) -> int:
    """Run the outbox worker with settings from `env` until interrupted or terminated."""
    from receiver.runtime.dispatching import run_worker as run
    from receiver.runtime.startup import prepare

    settings = from_environ(env, need_api_token=False, key_store=local_key)
    configure_logging(settings.log_format, settings.log_level)
    prepare(settings)
    with contextlib.suppress(KeyboardInterrupt):
        event_loops.run(run(settings), settings.event_loop)
    return 0


async def keep_videos(keeper: VideoKeeper) -> int:
    """Every due video copy, once (and old copies pruned); returns how many were taken."""
    taken = 0
    while (batch := await keeper.keep_due()):
        taken += batch
    await keeper.prune_if_due()
    return taken


def run_migrate(env: Mapping[str, str]) -> int:
    """Apply pending migrations to the configured database; print what was done."""
    # Migrations go straight to the server when DATABASE_URL leads to a pooler.
    database = direct_database_from_environ(env) or database_from_environ(env)
    before = asyncio.run(schema_state(database))  # one line when it cannot be opened
    if before.unknown:
        before.check()  # a newer reelhook's database: refused untouched
    try:
        applied = asyncio.run(migrate_database(database))
    except Exception as exc:  # sqlite3, asyncpg and OS errors alike: one line saying why
        raise StoreUnavailable(f"cannot migrate the database {shown(database)}: {exc}") from exc
    state = asyncio.run(schema_state(database))
    if applied:
        print(f"applied {len(applied)} migration(s) to {shown(database)}: {', '.join(applied)}")
    else:
        print(f"{shown(database)} is up to date ({len(state.applied)} migrations)")
    state.check()
    return 0


def run_tick(env: Mapping[str, str]) -> int:
    """`reelhook tick`: all due work once."""
    from receiver.runtime.startup import prepare

    settings = from_environ(env, need_api_token=False, key_store=local_key)
    configure_logging(settings.log_format, settings.log_level)
    prepare(settings)
    try:
        done = asyncio.run(asyncio.wait_for(tick(settings), TICK_DEADLINE))
    except TimeoutError:
        print(f"reelhook tick: stopped after its deadline of {TICK_DEADLINE:.0f} s; what is left"
              " is done by the next tick", file=sys.stderr)
        return 1
    print(", ".join(f"{name}: {count}" for name, count in done.items()))
    return 0


async def tick(settings: Settings) -> dict[str, int]:
    """Every piece of due work once. The store is asked first what waits (one read): the
    senders (the app, HTTP clients, providers, the video store) are built only when something
    does, so an idle tick costs a query, not their start."""
    from store import open_store

    store = await open_store(
        settings.database, notify_on=settings.notify_on, busy_timeout=settings.db_busy_timeout,
        pool_size=2, migrate=False, timeouts=settings.db_timeouts,
        direct=settings.direct_database,
    )
    try:
        waiting = await work_waiting(store, settings)
        if not waiting:
            return {**nothing_sent(settings), **await upkeep(store, settings)}
    finally:
        await store.close()
    log.debug("tick: %s due", ", ".join(waiting))
    return await tick_with_senders(settings)


async def work_waiting(store: TaskStore, settings: Settings) -> list[str]:
    """The kinds of work that wait for a sender (store/plans/due.py), those this tick would do."""
    keeps_videos = settings.videos.kept(settings.database)
    video_days = settings.videos.keep_days
    kept_before = (iso_from_epoch(time.time() - video_days * 86400)
                   if keeps_videos and video_days is not None else None)
    due = await store.due_work(time.time(), POLLABLE, kept_before)
    waiting = {name for name, waits in asdict(due).items() if waits}
    if not keeps_videos:
        waiting.discard("video_copies")
    if settings.alerts_to is None:
        waiting.discard("alerts")
    return sorted(waiting)


def nothing_sent(settings: Settings) -> dict[str, int]:
    """The report of the work that needs a sender when none waits: the same lines, each 0."""
    names = ["interrupted sends failed", "held submissions", "tasks polled"]
    if settings.videos.kept(settings.database):
        names.append("videos copied")
    names.append("notices due")
    if settings.alerts_to is not None:
        names.append("alerts sent")
    return dict.fromkeys(names, 0)


async def upkeep(store: TaskStore, settings: Settings) -> dict[str, int]:
    """The store's own upkeep, which needs no sender: old rows deleted, counts folded."""
    from receiver.services.counts import fold_all
    from receiver.services.retention import prune

    done = {}
    if settings.keep_days is not None:  # bounded: what is left goes at the next tick
        pruned = await prune(store, settings.keep_days, time.monotonic() + TICK_PRUNE_BUDGET)
        done["old rows deleted"] = sum(pruned.values())
    done["counts folded"] = await fold_all(store, time.monotonic() + TICK_PRUNE_BUDGET)
    return done


async def tick_with_senders(settings: Settings) -> dict[str, int]:
    """Every piece of due work once, through the same app set-up as serve (without its
    background loops): sends cut off, held submissions, polls, video copies, then notices."""
    from aiohttp import web

    from dispatcher.worker import Worker
    from receiver import keys
    from receiver.app import create_app
    from receiver.runtime.dispatching import alert_sender, dispatch_config, session_factory
    from receiver.services.poller import Poller

    app = create_app(replace(settings, background=False))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        service, store = app[keys.TASKS], app[keys.STORE]
        done = {"interrupted sends failed": await service.queue.fail_interrupted()}
        done["held submissions"] = len(await store.submits.held(time.time()))
        await service.queue.release_held()
        await service.queue.drain()
        done["tasks polled"] = await Poller(service, settings).poll_due()
        if (keeper := app.get(keys.KEEPER)) is not None:
            done["videos copied"] = await keep_videos(keeper)
        config = dispatch_config(settings, app[keys.SECRETS])
        now = time.time()
        done["notices due"] = len(await store.outbox.due(now, now - config.lease, 100_000))
        worker = Worker(store.outbox, config, session_factory=session_factory(settings))
        await worker.run_until_idle(timeout=TICK_NOTICE_BUDGET)
        if (sender := alert_sender(settings, store, config)) is not None:
            done["alerts sent"] = await sender.send_due()
        return {**done, **await upkeep(store, settings)}
    finally:
        await runner.cleanup()
