"""The services through the real app: each provider's flow, submits, polls, kept videos."""
