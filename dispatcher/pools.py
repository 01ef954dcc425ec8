"""The size of an outgoing connection pool, importable without the HTTP clients (settings read
it at start; dispatcher/netguard.py builds the pools)."""

DEFAULT_CONNECTIONS = 20  # per pool: httpcore's own default is 10 for the whole client
