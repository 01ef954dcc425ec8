"""A background loop that ends for any reason but shutdown is logged CRITICAL, turns /healthz to
503 naming it, and runs again after a pause; shutdown stops every loop without a word."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from receiver import keys
from receiver.services.loops import BackgroundLoops
from tests.helpers import until


class Flaky:
    """A loop that fails its first `failures` runs, then runs until cancelled."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs = 0

    async def __call__(self) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise ConnectionResetError(f"run {self.runs} lost its database")
        await asyncio.Event().wait()


def criticals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]


async def test_a_loop_that_dies_is_logged_named_and_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loops = BackgroundLoops(first_pause=0.05, longest_pause=0.2)
    flaky = Flaky(failures=3)
    loops.start("dispatcher", flaky)
    await until(lambda: loops.failure() is not None, what="the loop to be seen down")
    assert "the dispatcher loop ended (ConnectionResetError: run 1 lost" in str(loops.failure())
    await until(lambda: flaky.runs == 4 and loops.failure() is None, what="the fourth run")
    assert len(criticals(caplog)) == 3
    assert all(m.startswith("the dispatcher loop ended") for m in criticals(caplog))
    await loops.stop()
    assert len(criticals(caplog)) == 3  # stopping is not a fault


async def test_a_loop_that_returns_is_restarted_too(caplog: pytest.LogCaptureFixture) -> None:
    loops = BackgroundLoops(first_pause=0.01)
    runs: list[int] = []

    async def returns_early() -> None:
        runs.append(1)
        if len(runs) > 2:
            await asyncio.Event().wait()

    loops.start("poller", returns_early)
    await until(lambda: len(runs) == 3, what="a third run")
    assert criticals(caplog) == [
        "the poller loop ended (it returned); restarting it in 0 s",
        "the poller loop ended (it returned); restarting it in 0 s",
    ]
    await loops.stop()


async def test_healthz_is_503_naming_the_loop_while_it_is_down(start_app: Any) -> None:
    client = await start_app()
    assert (await client.get("/healthz")).status == 200
    client.app[keys.LOOPS].start("video keeper", Flaky(failures=1))
    await until(lambda: bool(client.app[keys.LOOPS].down), what="the loop to end")
    answer = await client.get("/healthz")
    assert answer.status == 503
    assert "the video keeper loop ended (ConnectionResetError" in (await answer.json())["error"]
    # The app's loops wait a second before running a dead loop again.
    await until(lambda: not client.app[keys.LOOPS].down, timeout=5, what="the restart")
    assert (await client.get("/healthz")).status == 200


async def test_a_loop_whose_cancellation_arrives_as_another_error_still_stops() -> None:
    """asyncio's timeouts inside a database driver can turn a cancellation into TimeoutError,
    which a loop handles as one more failed round: stopping must end it anyway."""
    loops = BackgroundLoops(first_pause=0.01)
    rounds: list[int] = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                raise TimeoutError("what a driver's timeout made of the cancellation") from None
            rounds.append(1)

    loops.start("stubborn", stubborn)
    while len(rounds) < 3:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(loops.stop(), 10)
    assert loops.failure() is None
