"""The command line: one parser, the server-side commands, and the only reads of os.environ."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from receiver.cli import client as client_commands
from receiver.cli import deliveries as delivery_commands
from receiver.cli import destinations as destination_commands
from receiver.cli import keys as key_commands
from receiver.cli import ops as ops_commands
from receiver.cli import prune as prune_commands
from receiver.cli import reports as report_commands
from receiver.cli import videos as video_commands
from receiver.cli.support import ClientError, add_command
from receiver.errors import SettingsError, StartupError
from receiver.logs import configure_logging
from receiver.providers import PROVIDER_NAMES
from receiver.runtime.gc_tuning import TUNE_AFTER_START, quiet_start, tune_for_long_life
from receiver.runtime.local_key import local_key
from receiver.settings import Settings, from_environ, log_format
from store.errors import StoreUnavailable

if TYPE_CHECKING:
    from aiohttp import web

DESCRIPTION = """\
reelhook: submit AI video tasks to hosted providers, verify their callbacks, keep every event,
and send notices (also python -m receiver).

Every command's --help says what it does and which settings (environment variables) it reads."""
Command = Callable[[argparse.Namespace], int]
PROVIDER_SETTINGS = (
    "{" + ",".join(name.upper() for name in PROVIDER_NAMES) + "}_API_KEY and _BASE_URL"
)
SERVE_SETTINGS = (
    "PORT", "REELHOOK_HOST", "REELHOOK_PUBLIC_URL", "REELHOOK_API_TOKEN", "REELHOOK_SECRET_KEY",
    "DATABASE_URL", "REELHOOK_DATABASE", "REELHOOK_DB_POOL_SIZE", "WEB_CONCURRENCY",
    "REELHOOK_BACKGROUND", PROVIDER_SETTINGS,
    "REELHOOK_METRICS_TOKEN", "REELHOOK_LOG_FORMAT", "REELHOOK_LOG_LEVEL", "REELHOOK_EVENT_LOOP",
    "and every other setting in the README",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is the return value."""
    quiet_start()
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.run
    try:
        return command(args)
    except (SettingsError, StartupError, StoreUnavailable) as exc:
        print(f"reelhook: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        print(f"reelhook: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="reelhook", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_command(commands, "serve", "run the web process: client API, callbacks, dashboard,"
                " /metrics and the notice worker", SERVE_SETTINGS, run_serve,
                "Prints the address it listens on and the callback base URL it gives providers.")
    add_command(commands, "demo", "run an offline demo against local simulators", (), run_demo,
                "A simulator of every provider, reelhook and a temporary database, all on"
                " loopback; prints what happened.")
    sandbox = add_command(commands, "sandbox", "run the provider simulators for trying"
                          " `reelhook serve`", ("REELHOOK_LOG_FORMAT",), run_sandbox,
                          f"Prints the {PROVIDER_SETTINGS} settings that point serve at them;"
                          " runs until Ctrl-C.")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    add_command(commands, "keygen", "print a new REELHOOK_SECRET_KEY", (), run_keygen)
    client_commands.add_commands(commands, os.environ)
    report_commands.add_commands(commands, os.environ)
    delivery_commands.add_commands(commands, os.environ)
    destination_commands.add_commands(commands, os.environ)
    ops_commands.add_commands(commands, os.environ)
    video_commands.add_commands(commands, os.environ)
    key_commands.add_commands(commands, os.environ)
    prune_commands.add_commands(commands, os.environ)
    return parser


def run_serve(args: argparse.Namespace) -> int:
    """Start the server (WEB_CONCURRENCY processes on one port) with settings from the
    environment."""
    from receiver.serving import serve

    settings = from_environ(os.environ, key_store=local_key)
    configure_logging(settings.log_format, settings.log_level)
    return serve(settings, announce, _tune_gc)


async def _tune_gc(app: web.Application) -> None:
    """Tune the garbage collector soon after the app has started (`tune_for_long_life`): its
    full collection (~15 ms) runs once serve answers, not before its first answer."""
    asyncio.get_running_loop().call_later(TUNE_AFTER_START, tune_for_long_life)


def announce(settings: Settings) -> None:
    """What serve tells its operator once it listens."""
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    print(f"reelhook listening on http://{settings.host}:{settings.port}"
          f" (open http://{shown_host}:{settings.port}/dashboard)", flush=True)
    print(f"callback base URL given to providers: {settings.public_url}/callbacks/"
          " (REELHOOK_PUBLIC_URL)", flush=True)


def run_demo(args: argparse.Namespace) -> int:
    """The offline demo: simulators, reelhook and tasks, all on loopback."""
    from receiver.sandbox.demo import run

    return asyncio.run(run())


def run_sandbox(args: argparse.Namespace) -> int:
    """The provider simulators until interrupted."""
    from receiver.cli.sandbox import run

    configure_logging(log_format(os.environ))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.host))
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    """Print a fresh Fernet key for REELHOOK_SECRET_KEY."""
    from receiver.services.secrets import new_fernet_key

    print(new_fernet_key())
    return 0
