"""One module per provider, and the registry every other part reads the providers' facts from.

Names, default base URLs and in-flight caps are declared by the adapters; settings, the CLI's
choices, the OpenAPI enums and the test fixtures read them from here.
"""

from __future__ import annotations

from receiver.providers.apimart import APIMart
from receiver.providers.base import Adapter, Provider, ProviderConfig
from receiver.providers.onemin import OneMin
from receiver.providers.piapi import PiAPI
from receiver.providers.wave import Wave

ADAPTERS: tuple[type[Adapter], ...] = (PiAPI, Wave, APIMart, OneMin)
PROVIDER_NAMES: tuple[str, ...] = tuple(adapter.name for adapter in ADAPTERS)
DEFAULT_BASE_URLS: dict[str, str] = {adapter.name: adapter.default_base_url for adapter in ADAPTERS}
DEFAULT_MAX_IN_FLIGHT: dict[str, int] = {
    adapter.name: adapter.default_max_in_flight for adapter in ADAPTERS
}


def build_providers(configs: dict[str, ProviderConfig]) -> dict[str, Provider]:
    """An adapter for every provider reelhook knows, configured from settings."""
    return {adapter.name: adapter(configs[adapter.name]) for adapter in ADAPTERS}  # type: ignore[misc]
