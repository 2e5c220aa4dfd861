"""`edgeqa hints`: the routing hints (issue 13) through the daemon's API: `hints` (or `hints
list`) shows the active ones and the recently ended, `hints clear ID` puts back what one
changed now (audited as cli:<token name>#<id>)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any
from urllib.parse import quote

from edgeqa.commands.daemon_api import (
    DaemonApiError,
    add_daemon_args,
    base_url,
    request_json,
    token_of,
)

USAGE = "edgeqa hints [list | clear ID]"


def register(subparsers: Any) -> None:
    """Add the `hints` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "hints", help="show the routing hints (queue penalties, coaching pauses), clear one",
        usage=USAGE,
        description="`list` (the default) shows the hints: active ones first, with when "
                    "they expire; `clear ID` ends an active hint now and puts back the "
                    "penalty or pause it set (unless a person changed it meanwhile).")
    p.add_argument("words", nargs="*", metavar="list|clear ID")
    add_daemon_args(p)
    p.set_defaults(func=_hints)


def line(hint: dict[str, Any], now: float) -> str:
    """One hint as a line of `edgeqa hints`."""
    what = (f"penalty {hint['original_penalty']} -> {hint['applied_penalty']}"
            if hint["kind"] == "penalty" else f"paused ({hint['pause_reason']})")
    when = (f"expires in {max(0.0, hint['expires_at'] - now):.0f} s"
            if hint["state"] == "active" else f"{hint['state']}: {hint['outcome']}")
    return (f"{hint['id']}  {hint['interface']} in {hint['queue']}: {what}; rule "
            f"{hint['rule']} ({hint['value']:g}); {when}"
            + (" [dry run]" if hint["dry_run"] else ""))


def _hints(args: argparse.Namespace) -> int:
    words = list(args.words) or ["list"]
    try:
        url = f"{base_url(args)}/v1/hints"
        token = token_of(args)
        if words == ["list"]:
            answer = request_json(url, token=token)
            hints = sorted(answer["hints"], key=lambda h: (h["state"] != "active",
                                                           h["created_at"]))
            if answer.get("dry_run"):
                print("dry run: hints are published, the switch is not touched")
            if not hints:
                print("no hints")
            now = time.time()
            for hint in hints:
                print(line(hint, now))
        elif len(words) == 2 and words[0] == "clear":
            answer = request_json(f"{url}/{quote(words[1], safe='')}?via=cli", token=token,
                                  method="DELETE")
            print(line(answer["hint"], time.time()))
        else:
            print(f"edgeqa: hints: unknown command {' '.join(words)!r}\nusage: {USAGE}",
                  file=sys.stderr)
            return 2
    except DaemonApiError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return 1
    return 0
