"""The command line: server commands (serve, worker, migrate, tick) and client commands;
`main` is in receiver/cli/main.py."""
