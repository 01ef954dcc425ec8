"""`reelhook sandbox`: the four provider simulators on loopback, and the settings that point
`reelhook serve` at them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any, TextIO

from receiver.sandbox.providers import SIMULATORS, LocalServer


def simulators() -> dict[str, Any]:
    """One simulator per provider, by the provider's name."""
    return {name: simulator() for name, simulator in SIMULATORS.items()}


async def run(host: str = "127.0.0.1", out: TextIO = sys.stdout) -> None:
    """Serve every simulator until SIGTERM or Ctrl-C, after printing the settings for serve."""
    servers: list[LocalServer] = []
    lines = []
    try:
        for name, sim in simulators().items():
            server = await LocalServer(sim.app(), host=host).start()
            servers.append(server)
            sim.base_url = server.url
            lines += [f"export {name.upper()}_BASE_URL={server.url}",
                      f"export {name.upper()}_API_KEY={sim.api_key}"]
        print("# the provider simulators are running; in another shell, run:", file=out)
        print("\n".join(lines), file=out)
        print("# then: reelhook serve   (Ctrl-C here stops the simulators)", file=out, flush=True)
        await _until_stopped()
    finally:
        for server in servers:
            await server.stop()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
