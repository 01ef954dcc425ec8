"""Faithful local simulators of the providers, for the demo and the tests."""

from receiver.providers.sandbox.piapi import PiapiSimulator
from receiver.providers.sandbox.serve import LocalServer

__all__ = ["LocalServer", "PiapiSimulator"]
