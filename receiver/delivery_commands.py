"""Commands for notices: `deliveries` and `redeliver ID` (through the client API of a running
server, like submit and tasks), and `worker` (the outbox worker as a process of its own)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from receiver.client_commands import request
from receiver.logs import configure_logging
from receiver.settings import from_environ
from store.outbox import DELIVERY_STATUSES


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register worker, deliveries and redeliver."""
    url = env.get("REELHOOK_URL") or f"http://127.0.0.1:{env.get('PORT') or 8080}"
    token = (env.get("REELHOOK_API_TOKEN") or "").split(",")[0].strip()
    worker = commands.add_parser("worker", help="run the notice worker alone (a second process)")
    worker.set_defaults(run=lambda args: run_worker(env))
    listing = commands.add_parser("deliveries", help="list notice deliveries, newest first")
    listing.add_argument("--status", choices=DELIVERY_STATUSES)
    listing.add_argument("--task", dest="task_id", help="only this task's deliveries")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(run=lambda args: _deliveries(args, url, token))
    again = commands.add_parser("redeliver", help="send a delivered or dead notice again")
    again.add_argument("delivery_id", metavar="ID")
    again.set_defaults(run=lambda args: _redeliver(args, url, token))


def run_worker(env: Mapping[str, str]) -> int:
    """Run the outbox worker with settings from `env` until interrupted or terminated."""
    from receiver.dispatching import run_worker as run

    settings = from_environ(env)
    configure_logging()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(settings))
    return 0


def _deliveries(args: argparse.Namespace, url: str, token: str) -> int:
    if args.task_id:
        answer = request("GET", f"{url}/v1/tasks/{args.task_id}/deliveries", token)
    else:
        params = {"limit": args.limit, **({"status": args.status} if args.status else {})}
        answer = request("GET", f"{url}/v1/deliveries", token, params=params)
    print(delivery_table(answer["deliveries"]))
    return 0


def _redeliver(args: argparse.Namespace, url: str, token: str) -> int:
    delivery = request("POST", f"{url}/v1/deliveries/{args.delivery_id}/redeliver", token)
    print(f"delivery {delivery['id']} is {delivery['status']} again; it goes out shortly")
    return 0


def delivery_table(deliveries: list[dict[str, Any]]) -> str:
    """Deliveries as a plain text table (destinations by their redacted labels)."""
    rows = [("ID", "TASK", "STATE", "CHANNEL", "STATUS", "TRIES", "TO", "LAST ERROR")]
    for item in deliveries:
        destination = item["destination"]
        rows.append((str(item["id"]), item["task_id"], item["state"], destination["channel"],
                     item["status"], str(item["attempts"]), destination["label"],
                     item.get("last_error") or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  " + row[-1]
        for row in rows
    )
