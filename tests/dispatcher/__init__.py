"""Notices: the outbox worker, channels, retries, the address guard."""
