"""The demo shows notices: each task's Slack message and email, from sinks on loopback."""

from __future__ import annotations

import asyncio
import sys


async def test_demo_prints_the_notices_each_sink_received() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "receiver", "demo",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    text = out.decode()
    assert process.returncode == 0, err.decode()
    assert text.count(" notices:") >= 2
    assert "Slack got:" in text and "Mail to you@example.com: Video ready" in text
    assert "demo-hook-token" not in text
