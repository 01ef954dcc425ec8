"""What `reelhook serve` sets up around the app: a collector tuned for a long-lived server, and
callback secret hashes that stay what earlier versions stored."""

from __future__ import annotations

import gc
import hashlib
import hmac
from collections.abc import Iterator

import pytest
from aiohttp import web

from receiver.cli import _tune_gc
from receiver.secrets import SecretBox, new_fernet_key


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


async def test_serve_freezes_what_startup_made_and_collects_less_often(restored_gc: None) -> None:
    gc.unfreeze()
    await _tune_gc(web.Application())
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] >= 10_000


def test_callback_secret_hashes_are_hmac_sha256_under_the_derived_key() -> None:
    key = new_fernet_key().encode()
    box = SecretBox(key)
    derived = hmac.new(key, b"reelhook callback secret v1", hashlib.sha256).digest()
    secret = box.new_callback_secret("tsk_1")
    assert box.hash_secret(secret) == hmac.new(derived, secret.encode(), "sha256").hexdigest()
    assert box.matches(secret, box.hash_secret(secret))
    assert box.vouches("tsk_1", secret) and not box.vouches("tsk_2", secret)
