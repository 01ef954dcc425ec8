"""The fast callback path (orjson, the known secret blanked without a walk) gives exactly what
the standard library and the generic scrub give, for every input, and stores no secret."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.providers.http import compact, compact_known, loads_strict, scrub
from tests.http.test_piapi_callbacks import (  # quiet_task is a fixture
    events_of,
    piapi_callback,
    post_callback,
    quiet_task,  # noqa: F401
)


@pytest.fixture
def db_path(database: str) -> str:
    """These API-level tests run on both databases (SQLite and PostgreSQL)."""
    return database


PATH = ("data", "config", "webhook_config", "secret")
KEYS = st.sampled_from(
    ["a", "status", "secret", "Token", "api_key", "apiKey", "passWORD", "to\u212aen", "é", "x y"]
)
SCALARS = (
    st.none() | st.booleans() | st.text(max_size=8)
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


def stdlib_canonical(value: Any) -> Any:
    """What the stored payload meant before orjson: parsed back, to compare as values."""
    return json.loads(json.dumps(scrub(value), sort_keys=True, separators=(",", ":")))


@pytest.mark.parametrize(
    "text",
    [
        b"18446744073709551616", b"[-123456789012345678901234567890]", b'"\\ud800"',
        b"\xef\xbb\xbf{}", b'{"a": 1, "a": 2}', b"1e308", b"[" * 40 + b"]" * 40,
        '{"é": "\\u00e9"}', "1234567890123456789",
    ],
)
def test_strict_loads_reads_what_the_standard_library_reads(text: bytes | str) -> None:
    assert loads_strict(text) == json.loads(text)
    assert type(loads_strict(text)) is type(json.loads(text))


@pytest.mark.parametrize(
    "text", [b"NaN", b"[Infinity]", b"-Infinity", b"1e400", b"[-1e999]", b"{", b"\xff", b""]
)
def test_strict_loads_refuses_as_before(text: bytes) -> None:
    with pytest.raises(ValueError):
        loads_strict(text)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_any_value_parses_and_stores_as_with_the_standard_library(value: Any) -> None:
    text = json.dumps(value).encode()
    assert loads_strict(text) == json.loads(text)
    assert json.loads(compact(json.loads(text))) == stdlib_canonical(json.loads(text))


@settings(max_examples=300, deadline=None)
@given(VALUES, st.one_of(st.none(), st.text(max_size=6)), st.booleans())
def test_blanking_the_known_secret_equals_the_generic_scrub(
    extra: Any, secret: str | None, escape: bool
) -> None:
    message: dict[str, Any] = {"data": {"config": {"webhook_config": {"secret": secret}}}}
    message["data"]["input"] = extra
    body = json.dumps(message, ensure_ascii=escape).encode()
    fast = compact_known(json.loads(body), body, PATH)
    assert json.loads(fast) == stdlib_canonical(json.loads(body))


def test_a_secret_sounding_key_beside_the_known_one_is_still_blanked() -> None:
    body = b'{"data": {"config": {"webhook_config": {"secret": "s1"}}, "\\u0074oken": "s2"}}'
    stored = compact_known(json.loads(body), body, PATH)
    assert "s1" not in stored and "s2" not in stored


async def test_a_stored_callback_keeps_no_secret(
    client: Any, quiet_task: dict[str, Any]  # noqa: F811
) -> None:
    secret = quiet_task["secret"]
    body = piapi_callback(
        quiet_task["task"], "processing",
        config={"webhook_config": {"endpoint": "https://x/cb", "secret": secret}},
        input={"prompt": "FPS-24", "api_key": "key-the-provider-echoed"},
    )
    assert (await post_callback(client, quiet_task["path"], body, secret)).status == 200
    events = await events_of(client, quiet_task["task"]["id"])
    stored = json.dumps([event["payload"] for event in events])
    assert "processing" in stored
    assert secret not in stored and "key-the-provider-echoed" not in stored
