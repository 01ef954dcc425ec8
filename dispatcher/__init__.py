"""Fan-out of completion notices: channels, the outbox worker and the retry policy."""
