"""Commands that talk to a running reelhook through its client API: submit, tasks, show.

They find the server at REELHOOK_URL (default http://127.0.0.1:$PORT) and authenticate with the
first token in REELHOOK_API_TOKEN.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

import httpx

from receiver.providers import PROVIDER_NAMES

UNIFIED_OPTIONS = (
    "prompt",
    "negative_prompt",
    "image",
    "end_image",
    "aspect_ratio",
    "resolution",
)


class ClientError(Exception):
    """The server could not be reached or refused the request; the message says which."""


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register submit, tasks and show, bound to the server named by the environment."""
    url = env.get("REELHOOK_URL") or f"http://127.0.0.1:{env.get('PORT') or 8080}"
    token = (env.get("REELHOOK_API_TOKEN") or "").split(",")[0].strip()
    submit = commands.add_parser("submit", help="submit a task to a running server")
    submit.add_argument("--provider", required=True, choices=PROVIDER_NAMES)
    submit.add_argument("--model", required=True)
    for name in UNIFIED_OPTIONS:
        submit.add_argument(f"--{name.replace('_', '-')}", dest=name)
    submit.add_argument("--duration", type=float)
    submit.add_argument("--guidance-scale", dest="guidance_scale", type=float)
    for name in ("extra", "notify", "metadata"):
        submit.add_argument(f"--{name}", type=json.loads, help=f"{name} as JSON")
    submit.add_argument("--idempotency-key", dest="idempotency_key")
    submit.set_defaults(run=lambda args: _submit(args, url, token))
    tasks = commands.add_parser("tasks", help="list tasks, newest first")
    tasks.add_argument("--status")
    tasks.add_argument("--provider")
    tasks.add_argument("--limit", type=int, default=20)
    tasks.set_defaults(run=lambda args: _tasks(args, url, token))
    show = commands.add_parser("show", help="show one task with its events")
    show.add_argument("task_id", metavar="ID")
    show.set_defaults(run=lambda args: _show(args, url, token))


def request(method: str, url: str, token: str, **kwargs: Any) -> Any:
    """Call the client API; ClientError with the server's message on failure."""
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    try:
        response = httpx.request(method, url, headers=headers, timeout=30.0, **kwargs)
    except httpx.HTTPError as exc:
        raise ClientError(
            f"cannot reach {url}: {type(exc).__name__}; is reelhook serve running?"
        ) from exc
    body = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    if response.status_code >= 400:
        message = body.get("error", {}).get("message", response.text[:200])
        raise ClientError(f"{response.status_code}: {message}")
    return body


def _submit(args: argparse.Namespace, url: str, token: str) -> int:
    fields = (
        "provider",
        "model",
        *UNIFIED_OPTIONS,
        "duration",
        "guidance_scale",
        "extra",
        "notify",
        "metadata",
    )
    body = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    task = request("POST", f"{url}/v1/tasks", token, json=body, headers=headers)
    print(json.dumps(task, indent=2))
    return 0


def _tasks(args: argparse.Namespace, url: str, token: str) -> int:
    params = {
        k: v
        for k, v in (("status", args.status), ("provider", args.provider), ("limit", args.limit))
        if v is not None
    }
    answer = request("GET", f"{url}/v1/tasks", token, params=params)
    print(task_table(answer["tasks"]))
    return 0


def _show(args: argparse.Namespace, url: str, token: str) -> int:
    task = request("GET", f"{url}/v1/tasks/{args.task_id}", token)
    events = request("GET", f"{url}/v1/tasks/{args.task_id}/events", token)["events"]
    print(json.dumps(task, indent=2))
    for event in events:
        print(
            f"  {event['received_at']}  {event['source']:<8} "
            f"{event['provider_status'] or '-':<12} -> {event['status'] or '-'}"
        )
    return 0


def task_table(tasks: list[dict[str, Any]]) -> str:
    """Tasks as a plain text table."""
    rows = [("ID", "PROVIDER", "MODEL", "STATUS", "COST", "VIDEO")]
    for task in tasks:
        cost = f"${task['cost_usd']:.2f}" if task.get("cost_usd") is not None else "-"
        rows.append(
            (
                task["id"],
                task["provider"],
                task["model"],
                task["status"],
                cost,
                task.get("video_url") or task.get("error") or "-",
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + str(row[-1])
        for row in rows
    )
