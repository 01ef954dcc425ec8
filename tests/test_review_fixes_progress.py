"""Progress values: non-finite ones are ignored, the rest are clamped to 0..100."""

from __future__ import annotations

from typing import Any

import pytest

from receiver.providers import v4
from receiver.providers.piapi import task_report

CASES = [
    (float("inf"), None),
    (float("-inf"), None),
    (float("nan"), None),
    (1e20, 100),
    (10**400, 100),
    (-5, 0),
    (42.7, 42),
    (True, None),
]


@pytest.mark.parametrize(("value", "expected"), [
    *CASES, ("inf%", None), ("nan", None), ("Infinity", None), ("1e20%", 100), ("100%", 100),
    ("42%", 42), ("soon", None),
])
def test_v4_progress(value: Any, expected: int | None) -> None:
    assert v4.progress(value) == expected


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_piapi_progress(value: Any, expected: int | None) -> None:
    data = {"task_id": "t-1", "status": "processing", "progress": value}
    assert task_report(data, source="poll", payload="").progress == expected
    nested = {"task_id": "t-1", "status": "processing", "output": {"progress": value}}
    assert task_report(nested, source="poll", payload="").progress == expected
