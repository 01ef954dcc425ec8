"""The task state machine: any order of a real event sequence, with duplicates, ends the same."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.providers import v4
from receiver.providers.piapi import task_report
from store.states import Observation, TaskState, advance, clamp_progress

QUEUED = TaskState("queued")


def _run(events: list[Observation]) -> TaskState:
    state = QUEUED
    for event in events:
        state = advance(state, event)
    return state


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Observation], list[Observation]]:
    """A real provider history (queued..., running with rising progress, one terminal event)
    and a shuffled copy of it with duplicates."""
    steps = draw(st.lists(st.integers(0, 99), max_size=6).map(sorted))
    ending = draw(
        st.sampled_from(
            [
                Observation("succeeded", 100, video_url="https://v/out.mp4"),
                Observation("failed", error="boom"),
                Observation("cancelled", error="cancelled"),
            ]
        )
    )
    ordered = [Observation("queued", 0), *(Observation("running", p) for p in steps), ending]
    copies = draw(st.lists(st.sampled_from(ordered), max_size=6))
    shuffled = draw(st.permutations(ordered + copies))
    return ordered, list(shuffled)


@given(histories())
def test_any_arrival_order_ends_where_the_ordered_history_ends(
    pair: tuple[list[Observation], list[Observation]],
) -> None:
    ordered, arrived = pair
    expected, actual = _run(ordered), _run(arrived)
    assert actual.status == expected.status
    assert actual.video_url == expected.video_url
    assert actual.error == expected.error
    if actual.status == "succeeded":
        assert actual.progress == 100
    else:  # never more than some event said (events after the end are ignored)
        seen = [clamp_progress(e.progress) for e in arrived if e.progress is not None]
        assert actual.progress <= max(seen, default=0)


def test_terminal_state_is_final_and_progress_only_rises() -> None:
    running = advance(QUEUED, Observation("running", 60))
    assert advance(running, Observation("running", 30)).progress == 60
    assert advance(running, Observation("queued")).status == "running"
    done = advance(running, Observation("succeeded", video_url="https://v/1.mp4"))
    assert (done.status, done.progress) == ("succeeded", 100)
    assert advance(done, Observation("failed", error="late")) == done


# Progress values: non-finite ones are ignored, the rest are clamped to 0..100.

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
