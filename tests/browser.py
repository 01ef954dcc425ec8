"""Playwright with Debian's chromium for the dashboard's browser tests, and where their
screenshots go."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--mute-audio",
]


def artefacts_dir(base: Path) -> Path:
    """REELHOOK_ARTEFACTS, or an artefacts folder in pytest's temporary base directory."""
    folder = Path(os.environ.get("REELHOOK_ARTEFACTS") or base / "artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def require_chromium() -> None:
    """Skip with the reason when chromium or Playwright is missing; under CI=true, fail."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed (pip install -e '.[test]')")
    if not missing:
        return
    reason = "browser tests need " + "; ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: they must run)")
    pytest.skip(reason)


async def launch() -> AsyncIterator[Any]:
    """A headless chromium (never a downloaded browser), closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=shutil.which("chromium") or CHROMIUM, args=ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
