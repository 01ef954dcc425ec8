"""`reelhook destinations`: list, add, pause, resume, test and delete registered destinations
through the client API of a running server; each is named by its name (or its id)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from dispatcher.channels import CHANNEL_NAMES
from receiver.cli.support import CLIENT_SETTINGS, ApiClient, ClientError, add_command
from receiver.terminal import table

ACTIONS = ("pause", "resume", "test", "delete")


def add_commands(commands: Any, env: Mapping[str, str]) -> None:
    """Register destinations (with its actions)."""
    api = ApiClient(env)
    parser = add_command(
        commands, "destinations", "list, add, pause, resume, test or delete registered"
        " destinations", CLIENT_SETTINGS, lambda args: _run(args, api),
        "Without an action: the list. `add NAME --channel webhook --url URL` prints the new"
        " webhook's secret once; `pause|resume|test|delete NAME` act on one by name or id.",
    )
    parser.add_argument("action", nargs="?", choices=("list", "add", *ACTIONS), default="list")
    parser.add_argument("name", nargs="?", help="the destination's name (or id)")
    parser.add_argument("--channel", choices=CHANNEL_NAMES, default="webhook")
    parser.add_argument("--url", help="webhook or Slack URL")
    parser.add_argument("--to", help="email address")
    parser.add_argument("--on", help="states, comma-separated (default REELHOOK_NOTIFY_ON)")
    parser.add_argument("--provider", help="only this provider's tasks")
    parser.add_argument("--metadata", type=json.loads, help='only tasks with this metadata, as'
                        ' JSON ({"user": "42"})')


def _run(args: argparse.Namespace, api: ApiClient) -> int:
    if args.action == "list":
        print(destination_table(api.call("GET", "/v1/destinations")["destinations"]))
        return 0
    if not args.name:
        raise ClientError(f"destinations {args.action} needs the destination's name")
    if args.action == "add":
        return _add(args, api)
    path = f"/v1/destinations/{_id_of(api, args.name)}"
    if args.action == "delete":
        api.call("DELETE", path)
        print(f"destination {args.name} deleted")
    elif args.action == "test":
        sent = api.call("POST", f"{path}/test")
        outcome = "delivered" if sent["delivered"] else f"not delivered: {sent['error']}"
        print(f"test notice to {args.name}: {outcome} ({sent['duration_ms']:.0f} ms)")
        return 0 if sent["delivered"] else 1
    else:
        shown = api.call("POST", f"{path}/{args.action}")
        print(destination_table([shown]))
    return 0


def _add(args: argparse.Namespace, api: ApiClient) -> int:
    body: dict[str, Any] = {"name": args.name, "channel": args.channel}
    for field in ("url", "to", "provider", "metadata"):
        if getattr(args, field) is not None:
            body[field] = getattr(args, field)
    if args.on:
        body["on"] = [state.strip() for state in args.on.split(",") if state.strip()]
    made = api.call("POST", "/v1/destinations", json=body)
    print(destination_table([made]))
    if made.get("secret"):
        print(f"signing secret (shown once): {made['secret']}")
    return 0


def _id_of(api: ApiClient, name: str) -> int:
    """The id of the destination with this name, else with this id."""
    listed = api.call("GET", "/v1/destinations")["destinations"]
    for matches in (lambda d: d["name"] == name, lambda d: str(d["id"]) == name):
        for destination in listed:
            if matches(destination):
                return int(destination["id"])
    raise ClientError(f"no destination named {name!r} (reelhook destinations lists them)")


def destination_table(destinations: list[dict[str, Any]]) -> str:
    """Registered destinations as a plain-text table, by name and redacted address."""
    return table(
        ("ID", "NAME", "CHANNEL", "ON", "STATE", "TO"),
        [(d["id"], d["name"], d["channel"], ",".join(d["on"]), _state(d), d["label"])
         for d in destinations],
    )


def _state(destination: dict[str, Any]) -> str:
    if destination["disabled_reason"]:
        return f"disabled: {destination['disabled_reason']}"
    return "paused" if destination["paused"] else "active"
