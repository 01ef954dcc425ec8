"""The reelhook command: serve, demo, submit, tasks, show, keygen (also python -m receiver).

This is the only module that reads os.environ.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence

from receiver import client_commands, delivery_commands
from receiver.errors import SettingsError, StartupError
from receiver.logs import configure_logging
from receiver.secrets import new_fernet_key
from receiver.settings import from_environ
from store import StoreUnavailable

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is the return value."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.run
    try:
        return command(args)
    except (SettingsError, StartupError, StoreUnavailable) as exc:
        print(f"reelhook: {exc}", file=sys.stderr)
        return 2
    except client_commands.ClientError as exc:
        print(f"reelhook: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="reelhook", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the web process (REELHOOK_HOST:PORT)")
    serve.set_defaults(run=run_serve)
    demo = commands.add_parser("demo", help="run an offline demo against local simulators")
    demo.set_defaults(run=run_demo)
    keygen = commands.add_parser("keygen", help="print a new REELHOOK_SECRET_KEY")
    keygen.set_defaults(run=run_keygen)
    client_commands.add_commands(commands, os.environ)
    delivery_commands.add_commands(commands, os.environ)
    return parser


def run_serve(args: argparse.Namespace) -> int:
    """Start the server with settings from the environment."""
    from receiver import edge, startup
    from receiver.app import create_app

    settings = from_environ(os.environ)
    configure_logging()
    lock = startup.claim_database(settings)  # before anything reads or recovers its work
    sock = startup.listen(settings)  # before start-up recovery, which runs in the app
    startup.announce(settings, bool(os.environ.get("REELHOOK_PUBLIC_URL")))
    edge.serve(create_app(settings), sock, access_log=None, shutdown_timeout=10.0)
    lock.close()
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """The offline demo: simulators, reelhook and tasks, all on loopback."""
    from receiver.demo import run

    return asyncio.run(run())


def run_keygen(args: argparse.Namespace) -> int:
    """Print a fresh Fernet key for REELHOOK_SECRET_KEY."""
    print(new_fernet_key())
    return 0
