"""What `reelhook serve` sets up around the app: a collector tuned for a long-lived server, and
callback secret hashes that stay what earlier versions stored."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from receiver.cli.commands import _tune_gc, main
from receiver.runtime.dispatching import run_worker
from receiver.runtime.gc_tuning import TUNE_AFTER_START, YOUNG_THRESHOLD
from receiver.services.secrets import SecretBox, new_fernet_key
from receiver.settings import Settings
from store import SqliteStore
from tests.helpers import until


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


async def test_serve_freezes_what_startup_made_once_started_not_before(
    restored_gc: None,
) -> None:
    gc.unfreeze()
    await _tune_gc(web.Application())
    assert gc.get_freeze_count() == 0  # the full collection waits until serve answers
    await until(lambda: gc.get_freeze_count() > 0, timeout=TUNE_AFTER_START + 5)
    assert gc.get_threshold()[0] >= 10_000


def test_every_command_starts_with_the_collector_quiet(restored_gc: None) -> None:
    gc.set_threshold(700, 10, 10)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["keygen"]) == 0
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 20, 100)


async def test_the_worker_process_collects_less_often_too(
    restored_gc: None, tmp_path: Path
) -> None:
    database = str(tmp_path / "w.db")
    await (await SqliteStore.open(database)).close()  # the worker does not migrate
    settings = Settings(api_tokens=(), secret_key=new_fernet_key().encode(), database=database)
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    running = asyncio.create_task(run_worker(settings))
    try:
        await until(lambda: gc.get_threshold()[0] >= 10_000)
        assert gc.get_freeze_count() > 0
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def test_callback_secret_hashes_are_hmac_sha256_under_the_derived_key() -> None:
    key = new_fernet_key().encode()
    box = SecretBox(key)
    derived = hmac.new(key, b"reelhook callback secret v1", hashlib.sha256).digest()
    secret = box.new_callback_secret("tsk_1")
    assert box.hash_secret(secret) == hmac.new(derived, secret.encode(), "sha256").hexdigest()
    assert box.matches(secret, box.hash_secret(secret))
    assert box.vouches("tsk_1", secret) and not box.vouches("tsk_2", secret)
