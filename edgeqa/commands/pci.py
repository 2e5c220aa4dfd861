"""`edgeqa pci pause|resume CALL`: the PCI pause of a call, through the daemon's API.

The daemon mutes both recorded legs, stops analysing the call, and audits the action as
cli:<token name>#<id> (the token this command sends: docs/access.md) before it answers.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from edgeqa.commands.daemon_api import (
    DaemonApiError,
    add_daemon_args,
    base_url,
    request_json,
    token_of,
)


def register(subparsers: Any) -> None:
    """Add the `pci` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "pci", help="pause or resume a call's recording and analysis (PCI)",
        description="Pause a call while a card number is given: both recorded legs are "
                    "muted (silence keeps the timeline) and neither leg is analysed; resume "
                    "ends it. Each action is audited. Call ids: `edgeqa calls`.")
    p.add_argument("command", choices=("pause", "resume"))
    p.add_argument("call_id", metavar="CALL", help="the call id (its Asterisk linkedid)")
    p.add_argument("--by", default=None,
                   help="ignored: the audit trail names the token sent (kept so that "
                        "old scripts still run)")
    add_daemon_args(p)
    p.set_defaults(func=_pci)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no LOGNAME
        return "unknown"


def _pci(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    by = args.by if args.by is not None else _login()
    try:
        url = f"{base_url(args)}/v1/calls/{quote(args.call_id, safe='')}/pci/{args.command}"
        answer = request_json(url, body={"by": by, "via": "cli"}, token=token_of(args))
    except DaemonApiError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return 1
    if answer.get("paused"):
        muted = "recording muted" if answer.get("recording_muted") else "call not recorded"
        print(f"call {answer['call_id']} paused ({muted}); audit #{answer['audit_id']}")
    else:
        print(f"call {answer['call_id']} resumed after {answer.get('paused_s')} s; "
              f"audit #{answer['audit_id']}")
    return 0
