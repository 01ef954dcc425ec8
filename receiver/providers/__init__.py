"""One module per provider, and the catalog every other part reads the providers' facts from.

The catalog (names, real hosts, in-flight caps) is plain data, so settings, the CLI's choices and
the OpenAPI enums read it without importing the adapters; `registry` builds the adapters.
"""

from __future__ import annotations

from typing import NamedTuple


class ProviderFacts(NamedTuple):
    """What reelhook knows of a provider before talking to it."""

    name: str
    default_base_url: str  # the provider's real host (PROVIDER_BASE_URL overrides it)
    default_max_in_flight: int = 0  # tasks in flight at once (0: no cap)
    pollable: bool = True  # has a Get Task to poll


CATALOG: tuple[ProviderFacts, ...] = (
    ProviderFacts("piapi", "https://api.piapi.ai"),
    ProviderFacts("wave", "https://www.qingbo.dev", 5),  # Wave allows 5 queued tasks per account
    ProviderFacts("apimart", "https://api.apimart.ai"),
    ProviderFacts("onemin", "https://api.1min.ai", pollable=False),  # answers the call itself
)
FACTS: dict[str, ProviderFacts] = {facts.name: facts for facts in CATALOG}
PROVIDER_NAMES: tuple[str, ...] = tuple(FACTS)
DEFAULT_BASE_URLS: dict[str, str] = {name: facts.default_base_url for name, facts in FACTS.items()}
DEFAULT_MAX_IN_FLIGHT: dict[str, int] = {
    name: facts.default_max_in_flight for name, facts in FACTS.items()
}
POLLABLE: tuple[str, ...] = tuple(name for name, facts in FACTS.items() if facts.pollable)
