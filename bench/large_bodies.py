"""How long `/healthz` waits while large submits are worked on (issue 22.8).

`python -m bench.large_bodies` starts a real `reelhook serve` (SQLite in a temporary folder, the
1min.ai simulator on loopback), then posts BURST bodies at once, from threads of this process, of
each kind below, while this process asks `/healthz` every 20 ms: the slowest answer is how long
the server's event loop was held. Figures are in bench/README.md.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.procs import free_port
from receiver.sandbox.providers import LocalServer
from receiver.sandbox.providers.onemin import PNG, OneminSimulator
from receiver.services.secrets import new_fernet_key

TOKEN = "bench-token-0123456789abcdef"
BURST = 6
BASE = {"provider": "onemin", "model": "Qubico/skyreels", "prompt": "FPS-24, a woman smiles"}


def bodies() -> dict[str, bytes]:
    """Each kind of large body: a 10 MB image as a data URI (accepted), and 15 MB of a million
    small values (refused, 422, once read)."""
    image = PNG + b"\0" * 10_000_000
    return {
        "10 MB image (data URI)": json.dumps(
            {**BASE, "image": "data:image/png;base64," + base64.b64encode(image).decode()}
        ).encode(),
        "a million small values": json.dumps(
            {**BASE, "image": "https://images.example/a.png",
             "extra": [{"x": n} for n in range(1_000_000)]}
        ).encode(),
    }


def post(url: str, body: bytes) -> int:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(timeout=300) as http:
        return http.post(f"{url}/v1/tasks", content=body, headers=headers).status_code


async def health_waits(url: str, stop: asyncio.Event) -> list[float]:
    """Seconds each /healthz took, asked every 20 ms until `stop`."""
    waits: list[float] = []
    async with httpx.AsyncClient(timeout=300) as http:
        while not stop.is_set():
            started = time.perf_counter()
            await http.get(f"{url}/healthz")
            waits.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
    return waits


async def measure(url: str, body: bytes) -> dict[str, float]:
    """The /healthz waits while BURST copies of `body` are posted at once."""
    stop = asyncio.Event()
    watcher = asyncio.create_task(health_waits(url, stop))
    started = time.perf_counter()
    with ThreadPoolExecutor(BURST) as pool:
        statuses = await asyncio.gather(*(
            asyncio.get_running_loop().run_in_executor(pool, post, url, body)
            for _ in range(BURST)
        ))
    seconds = time.perf_counter() - started
    stop.set()
    waits = await watcher
    return {"mb": len(body) / 1e6, "status": statuses[0], "seconds": seconds,
            "health_p50_ms": statistics.median(waits) * 1000, "health_max_ms": max(waits) * 1000}


async def main() -> None:
    sim = OneminSimulator()
    async with LocalServer(sim.app()) as provider:
        folder = Path(tempfile.mkdtemp(prefix="reelhook-bench-"))
        port = free_port()
        env = {**os.environ, "PORT": str(port), "REELHOOK_HOST": "127.0.0.1",
               "REELHOOK_API_TOKEN": TOKEN, "REELHOOK_SECRET_KEY": new_fernet_key(),
               "REELHOOK_DATABASE": str(folder / "bench.db"), "ONEMIN_BASE_URL": provider.url,
               "ONEMIN_API_KEY": sim.api_key, "REELHOOK_ALLOW_PRIVATE_URLS": "on",
               "REELHOOK_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen([sys.executable, "-m", "receiver", "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            await ready(url)
            print(f"| body | MB | answer | {BURST} at once, s | /healthz p50 ms | max ms |")
            print("|---|---:|---:|---:|---:|---:|")
            for name, body in bodies().items():
                row = await measure(url, body)
                print(f"| {name} | {row['mb']:.1f} | {row['status']:.0f} | {row['seconds']:.2f}"
                      f" | {row['health_p50_ms']:.1f} | {row['health_max_ms']:.0f} |", flush=True)
        finally:
            server.terminate()
            server.wait(30)


async def ready(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("reelhook serve did not start")


if __name__ == "__main__":
    asyncio.run(main())
