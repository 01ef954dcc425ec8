"""Without a PostgreSQL server the PostgreSQL tests skip, saying how to start one; with CI=true
they fail instead, so a CI run never passes without them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import refused_port

ROOT = Path(__file__).resolve().parents[2]
ONE_TEST = "tests/store/test_store_databases.py::test_inbound_messages_are_recorded_once"


def run_one_test(ci: str) -> subprocess.CompletedProcess[str]:
    with refused_port() as port:
        env = {**os.environ, "CI": ci,
               "REELHOOK_TEST_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/test"}
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", ONE_TEST],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )


def test_without_a_server_the_postgres_tests_skip_saying_how_to_start_one() -> None:
    done = run_one_test(ci="")
    assert done.returncode == 0, done.stdout
    assert "1 passed, 1 skipped" in done.stdout  # sqlite ran; postgres skipped
    assert "no PostgreSQL server answers at" in done.stdout
    assert "REELHOOK_TEST_DATABASE_URL" in done.stdout


def test_with_ci_true_a_missing_server_fails_the_run() -> None:
    done = run_one_test(ci="true")
    assert done.returncode != 0
    assert "1 passed, 1 error" in done.stdout  # the database fixture fails its test
    assert "CI=true and no PostgreSQL server answers" in done.stdout
