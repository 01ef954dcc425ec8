"""Fuzz the client API from its own OpenAPI document: no 500s, every answer as documented."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from receiver.services.secrets import new_fernet_key
from tests.helpers import API_TOKEN, SERVE_START_TIMEOUT, port_for_child_process, refused_port

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `reelhook serve` whose provider is unreachable (tasks fail fast at submit)."""
    port = port_for_child_process()
    with refused_port() as dead:
        yield from _serve(tmp_path_factory, port, dead)


def _serve(tmp_path_factory: pytest.TempPathFactory, port: int, dead: int) -> Iterator[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": str(port), "REELHOOK_HOST": "127.0.0.1",
        "REELHOOK_DATABASE": str(tmp_path_factory.mktemp("fuzz") / "fuzz.db"),
        "REELHOOK_API_TOKEN": API_TOKEN, "REELHOOK_SECRET_KEY": new_fernet_key(),
        "PIAPI_BASE_URL": f"http://127.0.0.1:{dead}", "REELHOOK_PROVIDER_TIMEOUT": "2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "receiver", "serve"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parents[2],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + SERVE_START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError("reelhook serve did not start")


def _operations(url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(operation: Any, headers: dict[str, str], examples: int) -> list[int]:
    seen: list[int] = []

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        seen.append(case.call_and_validate(headers=headers, checks=CHECKS).status_code)

    run()
    return seen


def test_client_api_matches_its_document(live_server: str) -> None:
    operations = _operations(live_server)
    assert len(operations) >= 9
    for operation in operations:
        statuses = _fuzz(operation, {"Authorization": f"Bearer {API_TOKEN}"}, examples=40)
        assert statuses, operation.label


def test_client_api_without_token_is_401_as_documented(live_server: str) -> None:
    every: list[int] = []
    for operation in _operations(live_server):
        statuses = _fuzz(operation, {"Authorization": "Bearer nope"}, examples=5)
        # Past 20 refused tokens a minute from one address, a wrong token is held back (429).
        assert set(statuses) <= {401, 429}, operation.label
        every += statuses
    assert every[:20] == [401] * 20 and 429 in every
