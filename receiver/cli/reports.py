"""`reelhook costs` and `reelhook inbound`: what was spent, and what Standard Webhooks
sources sent, from a running server's client API."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from receiver.cli.support import CLIENT_SETTINGS, ApiClient, add_command
from receiver.terminal import money, table
from store.states import STATES


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register costs and inbound."""
    api = ApiClient(env)
    costs = add_command(commands, "costs", "estimated spending per provider, and the total",
                        CLIENT_SETTINGS, lambda args: _costs(args, api))
    costs.add_argument("--status", choices=STATES, help="count only tasks in this state")
    inbound = add_command(commands, "inbound", "list Standard Webhooks messages received",
                          CLIENT_SETTINGS, lambda args: _inbound(args, api),
                          "Messages posted to /callbacks/standard/{source}, newest first.")
    inbound.add_argument("--source", help="only this source")
    inbound.add_argument("--limit", type=int, default=20)
    inbound.add_argument("--json", action="store_true", help="print the messages as JSON")


def _costs(args: argparse.Namespace, api: ApiClient) -> int:
    answer = api.call("GET", "/v1/costs", params={"status": args.status} if args.status else {})
    rows: list[tuple[Any, ...]] = [
        (row["provider"], row["tasks"], row["priced_tasks"], money(row["cost_usd"]))
        for row in answer["providers"]
    ]
    rows.append(("total", sum(r["tasks"] for r in answer["providers"]),
                 sum(r["priced_tasks"] for r in answer["providers"]), money(answer["total_usd"])))
    print(table(("PROVIDER", "TASKS", "PRICED", "COST"), rows))
    return 0


def _inbound(args: argparse.Namespace, api: ApiClient) -> int:
    params = {"limit": args.limit, **({"source": args.source} if args.source else {})}
    messages = api.call("GET", "/v1/inbound", params=params)["messages"]
    if args.json:
        print(json.dumps(messages, indent=2))
        return 0
    print(table(("ID", "RECEIVED", "SOURCE", "WEBHOOK-ID", "PAYLOAD"),
                [(m["id"], m["received_at"], m["source"], m["webhook_id"],
                  _short(json.dumps(m["payload"]))) for m in messages]))
    return 0


def _short(text: str, size: int = 80) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
