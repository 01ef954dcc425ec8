"""The layout's rules, read from the imports themselves: receiver → dispatcher → store and no
import back up; no aiohttp.web below the services line; only the app wires the dashboard in;
at most a dozen modules at receiver/'s top; the tests mirror the folders."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("receiver", "dispatcher", "store")


def imported(path: Path) -> Iterator[str]:
    """Every module `path` imports, and every `module.name` of a from-import."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def breaking(folder: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    """The modules under `folder` (but `allowed`) that import one of `forbidden`."""
    found = []
    for path in modules(folder):
        name = path.relative_to(ROOT).as_posix()
        if name.startswith(allowed):
            continue
        found += [f"{name} imports {module}" for module in imported(path)
                  if module.startswith(forbidden)]
    return found


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("store", ("receiver", "dispatcher")),
    ("dispatcher", ("receiver",)),
    ("receiver/services", ("aiohttp.web", "receiver.http", "receiver.dashboard", "receiver.cli")),
    # Settings read and check values; what they configure imports them, never the reverse.
    ("receiver/settings", ("receiver.runtime", "receiver.services", "receiver.http",
                           "receiver.dashboard", "receiver.cli", "receiver.sandbox", "receiver.app",
                           "receiver.serving", "receiver.keys", "aiohttp", "httpx")),
])
def test_no_import_runs_back_up(folder: str, forbidden: tuple[str, ...]) -> None:
    assert breaking(folder, forbidden) == []


def test_only_the_app_wires_the_dashboard_in() -> None:
    assert breaking("receiver", ("receiver.dashboard",),
                    allowed=("receiver/dashboard/", "receiver/app.py")) == []


def test_receiver_keeps_at_most_a_dozen_modules_at_its_top() -> None:
    assert len(list((ROOT / "receiver").glob("*.py"))) <= 12


def test_the_rules_see_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from aiohttp import web\nimport receiver.dashboard.hub\n")
    assert set(imported(module)) >= {"aiohttp.web", "receiver.dashboard.hub"}


def test_the_tests_mirror_the_folders() -> None:
    folders = [path.name for path in (ROOT / "receiver").iterdir()
               if path.is_dir() and (path / "__init__.py").exists()]
    wanted = {*folders, "dispatcher", "store"}
    tests = ROOT / "tests"
    missing = sorted(name for name in wanted if not (tests / name / "__init__.py").exists())
    assert missing == []
