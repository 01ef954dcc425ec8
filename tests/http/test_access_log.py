"""One access log line per request (method, route template, status, duration, the task id when
there is one; never the path's token, a query's signature or a header), the task id as its own
field in JSON logs, and HTTP request histograms by route and status beside the process metrics."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from receiver.logs import JsonFormatter, TextFormatter
from tests.helpers import API_TOKEN, skyreels, wait_for_status
from tests.test_metrics import scrape


async def test_each_request_is_logged_once_by_its_route_never_its_secrets(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reelhook.access")
    caplog.clear()
    task = await (await client.post("/v1/tasks", json=skyreels())).json()
    made = [r for r in caplog.records  # (the simulator's callbacks may be logged already)
            if r.name == "reelhook.access" and r.route == "/v1/tasks"]  # type: ignore[attr-defined]
    assert [getattr(r, "task_id", None) for r in made] == [task["id"]]  # its path names none
    await wait_for_status(client, task["id"])
    caplog.clear()
    await client.get(f"/v1/tasks/{task['id']}")
    await client.get("/v1/tasks?limit=1")
    await client.post(f"/callbacks/piapi/{task['id']}", data=b"{}",
                      headers={"x-webhook-secret": "forged-secret-value-123"})
    await client.get("/no/such/page?token=leaky")
    lines = [r for r in caplog.records if r.name == "reelhook.access"]
    assert [(r.method, r.route, r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("GET", "/v1/tasks/{task_id}", 200),
        ("GET", "/v1/tasks", 200),
        ("POST", "/callbacks/{provider}/{task_id}", 401),
        ("GET", "(no route)", 404),
    ]
    assert [getattr(r, "task_id", None) for r in lines] == [task["id"], None, task["id"], None]
    assert all(r.duration_ms >= 0 for r in lines)  # type: ignore[attr-defined]
    text = "\n".join(r.getMessage() for r in lines)
    for secret in ("forged-secret-value-123", "leaky", API_TOKEN, "limit=1"):
        assert secret not in text
    entry = json.loads(JsonFormatter().format(lines[0]))
    assert entry["task_id"] == task["id"] and entry["status"] == 200
    assert entry["route"] == "/v1/tasks/{task_id}"


async def test_requests_are_counted_by_route_and_status_with_the_process_metrics(
    client: Any,
) -> None:
    before = _request_counts(await scrape(client))
    for _ in range(3):  # each one counted, the first and those after it alike
        await client.get("/v1/tasks")
    await client.get("/v1/tasks/tsk_" + "0" * 28)  # 404
    samples = await scrape(client)
    after = _request_counts(samples)
    grown = {key: after[key] - before.get(key, 0) for key in after}
    assert grown[("/v1/tasks", "GET", "200")] == 3
    assert grown[("/v1/tasks/{task_id}", "GET", "404")] == 1
    names = {name for name, _ in samples}
    assert "process_resident_memory_bytes" in names and "python_info" in names


def _request_counts(samples: dict[Any, float]) -> dict[tuple[str, str, str], float]:
    """The request histogram's counts by (route, method, status)."""
    return {(labels["route"], labels["method"], labels["status"]): value
            for (name, frozen), value in samples.items()
            if name == "reelhook_http_request_duration_seconds_count"
            for labels in [dict(frozen)]}


def test_the_json_formatter_gives_a_task_id_its_own_field() -> None:
    stream = io.StringIO()
    record = logging.LogRecord("reelhook.tasks", logging.INFO, __file__, 1, "sent %s",
                               ("x",), None)
    record.task_id = "tsk_1"
    stream.write(JsonFormatter().format(record))
    assert json.loads(stream.getvalue())["task_id"] == "tsk_1"


def test_the_text_formatter_prints_each_records_own_time() -> None:
    """The text of the second is made once a second: records in the same second, in the next,
    and back in an earlier one each get their own time, as logging's own formatter gives it."""
    ours = TextFormatter()
    standard = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    for created in (1_767_225_599.998, 1_767_225_599.999, 1_767_225_600.0, 1_767_225_600.5,
                    1_767_225_599.25, 1_800_000_000.042):
        record = logging.LogRecord("reelhook.access", logging.INFO, __file__, 1, "GET / 200",
                                   None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert ours.format(record) == standard.format(record)
