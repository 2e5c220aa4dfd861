"""`edgeqa audit`: list the audit trail (who paused, deleted, put on legal hold... and when);
`audit verify` checks its hash chain, `audit export` writes a signed range of it, `audit
verify-export` checks such a file offline, `audit keygen` makes the signing key (docs/audit.md).

They read the store file read-only (the [store] path of --config), like `edgeqa recordings`.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from edgeqa.commands.recordings import parse_when
from edgeqa.commands.run import DEFAULT_CONFIG
from edgeqa.commands.storefile import StoreReadError, query_store


def register(subparsers: Any) -> None:
    """Add the `audit` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "audit", help="list the audit trail",
        description="List audited actions (PCI pause and resume, recording deletions and "
                    "refusals, legal holds), oldest first: time (UTC), actor, action, call.")
    p.add_argument("--config", "-c", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"the daemon's configuration, for its [store] path "
                        f"(default {DEFAULT_CONFIG})")
    p.add_argument("--call", help="only this call id")
    p.add_argument("--action", help="only this action (e.g. pci.pause), or a prefix ending "
                                    "with '.' (pci.)")
    p.add_argument("--since", type=parse_when, metavar="DATE",
                   help="at or after (YYYY-MM-DD or ISO time; UTC if no zone)")
    p.add_argument("--until", type=parse_when, metavar="DATE", help="before (same form)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_audit)
    from edgeqa.commands.audit_chain import register_chain_commands

    register_chain_commands(p)


def format_entry(entry: Mapping[str, Any]) -> str:
    """One entry as a line: time (UTC, ms), actor, action, call, from where (if known), detail."""
    when = datetime.fromtimestamp(entry["at"], UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    detail = " ".join(f"{k}={v}" for k, v in sorted(entry["detail"].items()))
    if entry.get("source"):
        detail = f"from={entry['source']}  {detail}"
    return (f"{when}  {entry['actor_kind']}:{entry['actor_name']}  {entry['action']}  "
            f"call={entry['call_id'] or '-'}  {detail}").rstrip()


def _audit(args: argparse.Namespace) -> int:
    try:
        query_store(args.config, "the audit trail", lambda conn: _print_all(conn, args))
    except StoreReadError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return exc.exit_status
    return 0


def _print_all(conn: sqlite3.Connection, args: argparse.Namespace) -> None:
    """Print every matching entry, a page at a time (the table is never pruned)."""
    from edgeqa.store.db import audit

    after = 0
    while page := audit(conn, call_id=args.call, action=args.action, since=args.since,
                        until=args.until, after_id=after):
        for entry in page:
            print(json.dumps(entry, sort_keys=True) if args.json else format_entry(entry))
        after = page[-1]["id"]
