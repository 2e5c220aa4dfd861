"""`edgeqa calls`: print the live calls, asking the running daemon's HTTP API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from edgeqa.commands.daemon_api import (
    DaemonApiError,
    add_daemon_args,
    base_url,
    request_json,
    token_of,
)


def register(subparsers: Any) -> None:
    """Add the `calls` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "calls", help="print the live calls of the running daemon",
        description="Print the live calls, queues and agents from a running edgeqa daemon.")
    add_daemon_args(p)
    p.add_argument("--json", action="store_true", help="print the raw JSON snapshot")
    p.set_defaults(func=_calls)


def format_snapshot(snap: Mapping[str, Any]) -> str:
    """Render a /v1/calls snapshot as plain text lines."""
    lines = [f"calls: {len(snap.get('calls', []))} (stream seq {snap.get('seq', 0)})"]
    for call in snap.get("calls", []):
        lines.append(f"  {call.get('call_id')}  {call.get('state')}  queue={call.get('queue')}"
                     f"  agent={call.get('agent_interface')}")
        for channel in call.get("channels", []):
            lines.append(f"    {channel.get('role'):<10} {channel.get('channel')}"
                         f"  {channel.get('state')}  caller={channel.get('caller_id_num')}")
    for queue in snap.get("queues", []):
        lines.append(f"queue {queue.get('name')}: {len(queue.get('callers', []))} waiting, "
                     f"{len(queue.get('members', []))} members")
    for agent in snap.get("agents", []):
        fields = ", ".join(f"{k}={v}" for k, v in agent.items() if k != "interface")
        lines.append(f"agent {agent.get('interface')}: {fields}")
    return "\n".join(lines)


def _calls(args: argparse.Namespace) -> int:
    try:
        snap = request_json(f"{base_url(args)}/v1/calls", token=token_of(args))
    except DaemonApiError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(snap, indent=2) if args.json else format_snapshot(snap))
    return 0
