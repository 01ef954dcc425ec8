"""Faithful local simulators of the providers, for the demo and the tests."""

from __future__ import annotations

from typing import Any

from receiver.providers.apimart import APIMart
from receiver.providers.onemin import OneMin
from receiver.providers.piapi import PiAPI
from receiver.providers.sandbox.apimart import ApimartSimulator
from receiver.providers.sandbox.onemin import OneminSimulator
from receiver.providers.sandbox.piapi import PiapiSimulator
from receiver.providers.sandbox.serve import LocalServer
from receiver.providers.sandbox.wave import WaveSimulator
from receiver.providers.wave import Wave

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
