"""A real `reelhook serve` process for tests that need to kill or signal it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import httpx

from tests.helpers import API_TOKEN, port_for_child_process


class ServedReelhook:
    """Starts, kills and restarts `python -m receiver serve` on one database file."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = port_for_child_process()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PORT": str(self.port),
            "REELHOOK_HOST": "127.0.0.1",
            "REELHOOK_PUBLIC_URL": self.url,
            "REELHOOK_API_TOKEN": API_TOKEN,
            **env,
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the process and wait until /healthz answers."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "receiver", "serve", env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
        raise AssertionError("reelhook serve did not start")

    async def signal(self, signum: int) -> int:
        """Send a signal and wait for the exit status."""
        assert self.process is not None
        self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), timeout=30)
        if self.process.stderr is not None:
            self.stderr = (await self.process.stderr.read()).decode()
        return code

    async def kill(self) -> int:
        """SIGKILL: no cleanup of any kind."""
        return await self.signal(signal.SIGKILL)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client for the client API, with the bearer token."""
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {API_TOKEN}"}, **kwargs
        )
