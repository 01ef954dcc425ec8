"""Faithful local simulators of the providers, for the demo and the tests."""

from __future__ import annotations

from typing import Any

from receiver.providers.apimart import APIMart
from receiver.providers.onemin import OneMin
from receiver.providers.piapi import PiAPI
from receiver.providers.wave import Wave
from receiver.sandbox.providers.apimart import ApimartSimulator
from receiver.sandbox.providers.onemin import OneminSimulator
from receiver.sandbox.providers.piapi import PiapiSimulator
from receiver.sandbox.providers.serve import LocalServer
from receiver.sandbox.providers.wave import WaveSimulator

# The simulator of each provider, keyed by the adapter's name.
SIMULATORS: dict[str, type[Any]] = {
    PiAPI.name: PiapiSimulator,
    Wave.name: WaveSimulator,
    APIMart.name: ApimartSimulator,
    OneMin.name: OneminSimulator,
}

__all__ = [
    "SIMULATORS",
    "ApimartSimulator",
    "LocalServer",
    "OneminSimulator",
    "PiapiSimulator",
    "WaveSimulator",
]
