"""The providers' catalog (plain data, read by settings and the CLI without the adapters) and
the adapters the registry builds name the same providers with the same facts."""

from __future__ import annotations

from receiver.providers import (
    CATALOG,
    DEFAULT_BASE_URLS,
    DEFAULT_MAX_IN_FLIGHT,
    POLLABLE,
    PROVIDER_NAMES,
)
from receiver.providers.registry import ADAPTERS


def test_every_adapter_is_in_the_catalog_with_its_facts() -> None:
    assert tuple(adapter.name for adapter in ADAPTERS) == PROVIDER_NAMES
    for adapter, facts in zip(ADAPTERS, CATALOG, strict=True):
        assert (adapter.name, adapter.default_base_url, adapter.default_max_in_flight,
                adapter.pollable) == facts
    assert DEFAULT_BASE_URLS["onemin"] == "https://api.1min.ai"
    assert DEFAULT_MAX_IN_FLIGHT == {"piapi": 0, "wave": 5, "apimart": 0, "onemin": 0}
    assert POLLABLE == ("piapi", "wave", "apimart")  # 1min.ai answers the call itself
