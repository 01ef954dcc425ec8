"""The adapters, one per provider in the catalog, built from settings."""

from __future__ import annotations

from receiver.providers.apimart import APIMart
from receiver.providers.base import Adapter, Provider, ProviderConfig
from receiver.providers.onemin import OneMin
from receiver.providers.piapi import PiAPI
from receiver.providers.wave import Wave

ADAPTERS: tuple[type[Adapter], ...] = (PiAPI, Wave, APIMart, OneMin)


def build_providers(configs: dict[str, ProviderConfig]) -> dict[str, Provider]:
    """An adapter for every provider reelhook knows, configured from settings."""
    return {adapter.name: adapter(configs[adapter.name]) for adapter in ADAPTERS}  # type: ignore[misc]
