"""A large request body is read into Python objects off the event loop: while one of a million
small values is decoded, checked and let go of (seconds of work), the server still answers
everyone else."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from tests.helpers import API_TOKEN

# Valid JSON of 15 MB, a million small objects: decoding, walking and freeing them takes seconds.
BODY = json.dumps({
    "provider": "onemin", "model": "Qubico/skyreels", "prompt": "FPS-24, a woman smiles",
    "image": "https://images.example/a.png", "extra": [{"x": n} for n in range(1_000_000)],
}).encode()


class Upload:
    """POST BODY from a thread of its own; says when the last byte was handed over and when
    the answer came."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = threading.Event()
        self.answered = threading.Event()
        self.status = 0

    def _chunks(self) -> Iterator[bytes]:
        for start in range(0, len(BODY), 1 << 20):
            yield BODY[start:start + (1 << 20)]
        self.sent.set()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json",
                   "Content-Length": str(len(BODY))}
        with httpx.Client(timeout=120) as http:
            self.status = http.post(self.url, content=self._chunks(), headers=headers).status_code
        self.answered.set()


async def test_the_server_answers_others_while_a_large_body_is_decoded(start_app: Any) -> None:
    client = await start_app()
    upload = Upload(str(client.make_url("/v1/tasks")))
    thread = threading.Thread(target=upload.run)
    thread.start()
    try:
        await asyncio.to_thread(upload.sent.wait, 60)
        await asyncio.sleep(0.3)  # the server has the whole body and is at work on it
        health = await client.get("/healthz")
        assert health.status == 200
        assert not upload.answered.is_set()  # answered while the large body was still worked on
    finally:
        await asyncio.to_thread(thread.join, 120)
    assert upload.status == 422  # `extra` is no field of a task: refused, as any bad body is
