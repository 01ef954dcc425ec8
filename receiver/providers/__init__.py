"""One module per provider, and the registry that builds them from settings."""

from __future__ import annotations

from collections.abc import Callable

from receiver.providers.base import Provider, ProviderConfig
from receiver.providers.piapi import PiAPI

FACTORIES: dict[str, Callable[[ProviderConfig], Provider]] = {
    "piapi": PiAPI,
}


def build_providers(configs: dict[str, ProviderConfig]) -> dict[str, Provider]:
    """An adapter for every provider reelhook knows, configured from settings."""
    return {name: factory(configs[name]) for name, factory in FACTORIES.items()}
