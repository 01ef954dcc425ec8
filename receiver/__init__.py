"""reelhook's web process: client API, provider callbacks, settings and command line."""
