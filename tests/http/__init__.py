"""The HTTP side: the client API, callbacks, malformed and hostile requests."""
