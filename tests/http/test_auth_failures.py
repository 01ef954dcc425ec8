"""Refused API tokens and sign-ins are logged (address and route, never the token) and limited
per address: past 20 in a minute, wrong tokens get 429 with Retry-After; a right one always
passes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from receiver.services.auth_failures import FAILURES_ALLOWED
from tests.dashboard.test_dashboard import sign_in
from tests.helpers import API_TOKEN

WRONG = "wrong-token-with-a-secret-look-0123456789"


async def test_refused_tokens_are_logged_and_limited_per_address(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reelhook.auth")
    wrong = {"Authorization": f"Bearer {WRONG}"}
    statuses = [(await client.get("/v1/tasks", headers=wrong)).status
                for _ in range(FAILURES_ALLOWED)]
    assert statuses == [401] * FAILURES_ALLOWED
    held = await client.get("/v1/tasks", headers=wrong)
    assert held.status == 429
    assert 1 <= int(held.headers["Retry-After"]) <= 60
    error = (await held.json())["error"]
    assert error["field"] == "Authorization" and "too many refused tokens" in error["message"]
    assert (await client.get("/v1/tasks")).status == 200  # the right token always passes
    messages = [record.getMessage() for record in caplog.records]
    assert sum("refused an API token from 127.0.0.1" in m for m in messages) == FAILURES_ALLOWED
    assert any("wrong ones get 429" in m for m in messages)
    assert not any(WRONG in m for m in messages)


async def test_refused_sign_ins_are_limited_and_a_right_token_still_signs_in(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reelhook.auth")
    client.session.headers.pop("Authorization", None)
    for _ in range(FAILURES_ALLOWED):
        assert (await sign_in(client, token=WRONG)).status == 401
    held = await sign_in(client, token=WRONG)
    assert held.status == 429 and "Too many refused sign-ins" in await held.text()
    assert int(held.headers["Retry-After"]) >= 1
    assert (await sign_in(client, token=API_TOKEN, follow=False)).status == 303
    assert any("refused a sign-in from 127.0.0.1" in r.getMessage() for r in caplog.records)
