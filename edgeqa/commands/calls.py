"""`edgeqa calls`: print the live calls, asking the running daemon's HTTP API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8765"
TIMEOUT_S = 5.0


def register(subparsers: Any) -> None:
    """Add the `calls` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "calls", help="print the live calls of the running daemon",
        description="Print the live calls, queues and agents from a running edgeqa daemon.")
    p.add_argument("--url", default=None, help=f"daemon API base URL (default {DEFAULT_URL}, "
                   "or the [api] of --config)")
    p.add_argument("--config", "-c", default=None, metavar="FILE",
                   help="take host and port from this configuration's [api]")
    p.add_argument("--json", action="store_true", help="print the raw JSON snapshot")
    p.set_defaults(func=_calls)


def _base_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url).rstrip("/")
    if args.config:
        import tomllib

        with open(args.config, "rb") as f:
            api = tomllib.load(f).get("api", {})
        return f"http://{api.get('host', '127.0.0.1')}:{api.get('port', 8765)}"
    return DEFAULT_URL


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
    import urllib.error
    import urllib.request

    url = f"{_base_url(args)}/v1/calls"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            snap = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        print(f"edgeqa: {url} answered {exc.code} {exc.reason}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"edgeqa: cannot reach the daemon at {url}: {reason} (is `edgeqa run` running?)",
              file=sys.stderr)
        return 1
    print(json.dumps(snap, indent=2) if args.json else format_snapshot(snap))
    return 0
