"""The command line: server commands (serve, worker, migrate, tick) and client commands;
the parser and `main` are in receiver/cli/commands.py."""

from receiver.cli.commands import main

__all__ = ["main"]
