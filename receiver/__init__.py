"""reelhook's web process: client API, provider callbacks, settings and command line."""

import sys

# httpx imports its own command line (click, and rich and pygments where installed: 15-45 ms of
# every cold start) unless that import fails. reelhook never runs it, so the module is marked
# absent before anything imports httpx; `httpx.main` then only says the CLI is not installed.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
