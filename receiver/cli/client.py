"""Commands that talk to a running reelhook through its client API: submit (optionally
following the task to its end), tasks, show and cancel."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from receiver.cli.support import CLIENT_SETTINGS, ApiClient, add_command
from receiver.providers import PROVIDER_NAMES
from receiver.services.request_fields import TEXT_FIELDS
from receiver.terminal import task_table
from store.states import STATES, is_terminal

UNIFIED_OPTIONS = TEXT_FIELDS
BAR = 24


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register submit, tasks, show and cancel."""
    api = ApiClient(env)
    submit = add_command(commands, "submit", "submit a task to a running server",
                         CLIENT_SETTINGS, lambda args: _submit(args, api),
                         "Prints the task as JSON; with --wait, follows it with a progress bar"
                         " until it ends and prints its video URL.")
    submit.add_argument("--provider", required=True, choices=sorted(PROVIDER_NAMES))
    submit.add_argument("--model", required=True)
    for name in UNIFIED_OPTIONS:
        submit.add_argument(f"--{name.replace('_', '-')}", dest=name)
    submit.add_argument("--duration", type=float)
    submit.add_argument("--guidance-scale", dest="guidance_scale", type=float)
    for name in ("extra", "notify", "metadata"):
        submit.add_argument(f"--{name}", type=json.loads, help=f"{name} as JSON")
    submit.add_argument("--idempotency-key", dest="idempotency_key")
    submit.add_argument("--wait", action="store_true", help="follow the task until it ends")
    submit.add_argument("--interval", type=float, default=0.5, help="seconds between looks")
    tasks = add_command(commands, "tasks", "list tasks, newest first", CLIENT_SETTINGS,
                        lambda args: _tasks(args, api))
    tasks.add_argument("--status", choices=STATES)
    tasks.add_argument("--provider", choices=sorted(PROVIDER_NAMES))
    tasks.add_argument("--limit", type=int, default=20)
    show = add_command(commands, "show", "show one task with its events", CLIENT_SETTINGS,
                       lambda args: _show(args, api))
    show.add_argument("task_id", metavar="ID")
    cancel = add_command(commands, "cancel", "cancel a task, at the provider where it allows",
                         CLIENT_SETTINGS, lambda args: _cancel(args, api))
    cancel.add_argument("task_id", metavar="ID")


def _submit(args: argparse.Namespace, api: ApiClient) -> int:
    fields = ("provider", "model", *UNIFIED_OPTIONS, "duration", "guidance_scale", "extra",
              "notify", "metadata")
    body = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    task = api.call("POST", "/v1/tasks", json=body, headers=headers)
    if not args.wait:
        print(json.dumps(task, indent=2))
        return 0
    print(f"submitted {task['id']} to {task['provider']}", file=sys.stderr)
    task = follow(api, task, args.interval, sys.stderr)
    if task["status"] == "succeeded":
        print(task["video_url"] or "(succeeded without a video URL)")
        return 0
    print(f"{task['id']} {task['status']}: {task.get('error') or 'no reason given'}",
          file=sys.stderr)
    return 1


def follow(api: ApiClient, task: dict[str, Any], interval: float, out: TextIO) -> dict[str, Any]:
    """Look at the task every `interval` seconds until it ends, drawing its progress on `out`
    (redrawn in place on a terminal, a line per change otherwise)."""
    live = out.isatty()
    shown = None
    while True:
        line = progress_line(task)
        if live:
            out.write("\r" + line)
        elif line != shown:
            out.write(line + "\n")
        out.flush()
        shown = line
        if is_terminal(task["status"]):
            if live:
                out.write("\n")
            return task
        time.sleep(interval)
        task = api.call("GET", f"/v1/tasks/{task['id']}")


def progress_line(task: dict[str, Any]) -> str:
    """[#########---------------]  40%  running"""
    progress = max(0, min(100, int(task.get("progress") or 0)))
    filled = round(BAR * progress / 100)
    return f"[{'#' * filled}{'-' * (BAR - filled)}] {progress:3d}%  {task['status']}"


def _tasks(args: argparse.Namespace, api: ApiClient) -> int:
    params = {k: v for k, v in (("status", args.status), ("provider", args.provider),
                                ("limit", args.limit)) if v is not None}
    print(task_table(api.call("GET", "/v1/tasks", params=params)["tasks"]))
    return 0


def _show(args: argparse.Namespace, api: ApiClient) -> int:
    task = api.call("GET", f"/v1/tasks/{args.task_id}")
    events = api.call("GET", f"/v1/tasks/{args.task_id}/events")["events"]
    print(json.dumps({**task, "events": events}, indent=2))  # one document a script can read
    return 0


def _cancel(args: argparse.Namespace, api: ApiClient) -> int:
    task = api.call("POST", f"/v1/tasks/{args.task_id}/cancel")
    print(f"{task['id']} is {task['status']}")
    return 0


