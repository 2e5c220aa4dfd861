"""`edgeqa spy`: listen to, whisper to or barge into an agent's call from a supervisor's phone,
through the daemon's API (POST /v1/spy); `spy list`, `spy mode ID MODE`, `spy end ID`.

The daemon decides (the phone's teams, the token's scope, caps), audits, then rings the
supervisor's phone; answering it connects the spy. Every action is audited as
cli:<token name>#<id> (docs/access.md).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

from edgeqa.commands.daemon_api import (
    DaemonApiError,
    add_daemon_args,
    base_url,
    request_json,
    token_of,
)

MODES = ("listen", "whisper", "barge")
USAGE = "edgeqa spy [list | mode ID MODE | end ID] (start: --supervisor S --agent A|--call ID)"


def register(subparsers: Any) -> None:
    """Add the `spy` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "spy", help="listen / whisper / barge into an agent's call from a supervisor's phone",
        usage=USAGE,
        description="Start a spy: the daemon rings the supervisor's phone (--supervisor, "
                    "an endpoint of [spy.supervisors]) and, once answered, connects it to the "
                    "agent's call (--agent: PJSIP/agent1 or its member name; or --call: a "
                    "call id, e.g. from a call.alert). `list` shows the spies, `mode ID "
                    "MODE` switches one live, `end ID` ends it.")
    p.add_argument("words", nargs="*", metavar="list|mode ID MODE|end ID")
    p.add_argument("--supervisor", metavar="ENDPOINT", help="the supervisor's phone")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--agent", metavar="AGENT")
    target.add_argument("--call", metavar="CALL_ID")
    p.add_argument("--mode", choices=MODES, default=None)
    p.add_argument("--reason", default="", metavar="TEXT", help="why (in the audit trail)")
    add_daemon_args(p)
    p.set_defaults(func=_spy)


def _line(spy: dict[str, Any]) -> str:
    return (f"{spy['id']}  {spy['state']:<7} {spy['mode']:<7} {spy['supervisor']} -> "
            f"{spy['agent_channel']} (call {spy['call_id']})"
            + (f" ended: {spy['result']}" if spy.get("result") else ""))


def _spy(args: argparse.Namespace) -> int:
    words = list(args.words)
    try:
        url = f"{base_url(args)}/v1/spy"
        token = token_of(args)
        if not words:
            if not args.supervisor or not (args.agent or args.call) or not args.mode:
                print(f"edgeqa: spy needs --supervisor, --agent or --call, and --mode\n"
                      f"usage: {USAGE}", file=sys.stderr)
                return 2
            body = {"supervisor": args.supervisor, "mode": args.mode, "reason": args.reason,
                    "via": "cli", **({"agent": args.agent} if args.agent
                                     else {"call_id": args.call})}
            answer = request_json(url, body=body, token=token)
            print(f"ringing {args.supervisor}: {_line(answer['spy'])}")
        elif words == ["list"]:
            answer = request_json(url, token=token)
            for spy in answer["spies"]:
                print(_line(spy))
        elif len(words) == 3 and words[0] == "mode" and words[2] in MODES:
            answer = request_json(f"{url}/{quote(words[1], safe='')}", token=token,
                                  body={"mode": words[2], "via": "cli"}, method="PATCH")
            print(_line(answer["spy"]))
        elif len(words) == 2 and words[0] == "end":
            answer = request_json(f"{url}/{quote(words[1], safe='')}?via=cli", token=token,
                                  method="DELETE")
            print(_line(answer["spy"]))
        else:
            print(f"edgeqa: spy: unknown command {' '.join(words)!r}\nusage: {USAGE}",
                  file=sys.stderr)
            return 2
    except DaemonApiError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return 1
    return 0
