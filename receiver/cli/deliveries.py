"""Client commands for notices: `deliveries` and `redeliver ID`, through the client API of a
running server (the `worker` process is a server command: receiver/cli/ops.py)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from receiver.cli.support import CLIENT_SETTINGS, ApiClient, add_command
from receiver.terminal import table
from store.plans.outbox import DELIVERY_STATUSES


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register deliveries and redeliver."""
    api = ApiClient(env)
    listing = add_command(commands, "deliveries", "list notice deliveries, newest first",
                          CLIENT_SETTINGS, lambda args: _deliveries(args, api))
    listing.add_argument("--status", choices=DELIVERY_STATUSES)
    listing.add_argument("--task", dest="task_id", help="only this task's deliveries")
    listing.add_argument("--limit", type=int, default=20)
    again = add_command(commands, "redeliver", "send a delivered or dead notice again",
                        CLIENT_SETTINGS, lambda args: _redeliver(args, api))
    again.add_argument("delivery_id", metavar="ID")


def _deliveries(args: argparse.Namespace, api: ApiClient) -> int:
    if args.task_id:
        # A task's notices come whole (a few per task); --status and --limit apply here.
        every = api.call("GET", f"/v1/tasks/{args.task_id}/deliveries")["deliveries"]
        chosen = [d for d in every if args.status in (None, d["status"])]
        deliveries = chosen[:max(args.limit, 0)]
    else:
        params = {"limit": args.limit, **({"status": args.status} if args.status else {})}
        deliveries = api.call("GET", "/v1/deliveries", params=params)["deliveries"]
    print(delivery_table(deliveries))
    return 0


def _redeliver(args: argparse.Namespace, api: ApiClient) -> int:
    delivery = api.call("POST", f"/v1/deliveries/{args.delivery_id}/redeliver")
    print(f"delivery {delivery['id']} is {delivery['status']} again; it goes out shortly")
    return 0


def delivery_table(deliveries: list[dict[str, Any]]) -> str:
    """Deliveries as a plain-text table (destinations by their redacted labels)."""
    return table(
        ("ID", "TASK", "STATE", "CHANNEL", "STATUS", "TRIES", "TO", "LAST ERROR"),
        [(d["id"], d["task_id"], d["state"], d["destination"]["channel"], d["status"],
          d["attempt_count"], d["destination"]["label"], d.get("last_error")) for d in deliveries],
    )
