"""Commands for notices: `deliveries` and `redeliver ID` (through the client API of a running
server, like submit and tasks), and `worker` (the outbox worker as a process of its own)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Mapping
from typing import Any

from receiver.cli.support import CLIENT_SETTINGS, ApiClient, add_command, table
from receiver.logs import configure_logging
from receiver.runtime import event_loops
from receiver.runtime.local_key import local_key
from receiver.settings import from_environ
from store.plans.outbox import DELIVERY_STATUSES

WORKER_SETTINGS = (
    "DATABASE_URL", "REELHOOK_DATABASE", "REELHOOK_DB_POOL_SIZE", "REELHOOK_SECRET_KEY",
    "REELHOOK_SMTP_URL", "REELHOOK_EMAIL_FROM",
    "REELHOOK_RETRY_SCHEDULE", "REELHOOK_DELIVERY_TIMEOUT", "REELHOOK_SLACK_MIN_INTERVAL",
    "REELHOOK_DISPATCH_INTERVAL", "REELHOOK_ALLOW_PRIVATE_URLS", "REELHOOK_LOG_FORMAT",
    "REELHOOK_EVENT_LOOP", "REELHOOK_SLACK_WEBHOOK_URL", "REELHOOK_NOTIFY_ON",
)


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register worker, deliveries and redeliver."""
    api = ApiClient(env)
    add_command(commands, "worker", "run the notice worker alone (a second process)",
                WORKER_SETTINGS, lambda args: run_worker(env),
                "Sends due notices from the database until SIGTERM or Ctrl-C, then hands back"
                " what it holds. It serves no client API, so it needs no REELHOOK_API_TOKEN.")
    listing = add_command(commands, "deliveries", "list notice deliveries, newest first",
                          CLIENT_SETTINGS, lambda args: _deliveries(args, api))
    listing.add_argument("--status", choices=DELIVERY_STATUSES)
    listing.add_argument("--task", dest="task_id", help="only this task's deliveries")
    listing.add_argument("--limit", type=int, default=20)
    again = add_command(commands, "redeliver", "send a delivered or dead notice again",
                        CLIENT_SETTINGS, lambda args: _redeliver(args, api))
    again.add_argument("delivery_id", metavar="ID")


def run_worker(env: Mapping[str, str]) -> int:
    """Run the outbox worker with settings from `env` until interrupted or terminated."""
    from receiver.runtime.dispatching import run_worker as run
    from receiver.serving import prepare

    settings = from_environ(env, need_api_token=False, key_store=local_key)
    configure_logging(settings.log_format)
    prepare(settings)
    with contextlib.suppress(KeyboardInterrupt):
        event_loops.run(run(settings), settings.event_loop)
    return 0


def _deliveries(args: argparse.Namespace, api: ApiClient) -> int:
    if args.task_id:
        answer = api.call("GET", f"/v1/tasks/{args.task_id}/deliveries")
    else:
        params = {"limit": args.limit, **({"status": args.status} if args.status else {})}
        answer = api.call("GET", "/v1/deliveries", params=params)
    print(delivery_table(answer["deliveries"]))
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
