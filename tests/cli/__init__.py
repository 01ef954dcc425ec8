"""The command line: client and server commands, as processes."""
