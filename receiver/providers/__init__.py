"""One module per provider, and the registry that builds them from settings."""

from __future__ import annotations

from collections.abc import Callable

from receiver.providers.apimart import APIMart
from receiver.providers.base import Provider, ProviderConfig
from receiver.providers.onemin import OneMin
from receiver.providers.piapi import PiAPI
from receiver.providers.wave import Wave

FACTORIES: dict[str, Callable[[ProviderConfig], Provider]] = {
    "piapi": PiAPI,
    "wave": Wave,
    "apimart": APIMart,
    "onemin": OneMin,
}


def build_providers(configs: dict[str, ProviderConfig]) -> dict[str, Provider]:
    """An adapter for every provider reelhook knows, configured from settings."""
    return {name: factory(configs[name]) for name, factory in FACTORIES.items()}
