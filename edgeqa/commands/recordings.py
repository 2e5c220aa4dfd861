"""`edgeqa recordings`: list the recorded legs from the store, filter them, verify their hashes.

It reads the store file read-only (the [store] path of --config), not the daemon's API: it
works while the daemon is down, and --verify must read the files on this host anyway.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from edgeqa.commands.recording_admin import legal_hold_marks, register_actions
from edgeqa.commands.run import DEFAULT_CONFIG
from edgeqa.commands.storefile import StoreReadError, query_store


def register(subparsers: Any) -> None:
    """Add the `recordings` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "recordings", help="list recorded calls' legs; verify their hashes",
        description="List the recordings in the store (one line per leg file), filtered by "
                    "agent, queue and start date; --verify recomputes each complete file's "
                    "sha256 and exits 1 if any differs from the store's.")
    p.add_argument("--config", "-c", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"the daemon's configuration, for its [store] path "
                        f"(default {DEFAULT_CONFIG})")
    p.add_argument("--agent", help="agent as stored: its queue member name, else its interface "
                                     "(e.g. PJSIP/agent1)")
    p.add_argument("--queue", help="queue name")
    p.add_argument("--since", type=parse_when, metavar="DATE",
                   help="started at or after (YYYY-MM-DD or ISO time; UTC if no zone)")
    p.add_argument("--until", type=parse_when, metavar="DATE", help="started before (same form)")
    p.add_argument("--verify", action="store_true",
                   help="recompute the sha256 of each complete file and compare")
    p.set_defaults(func=_recordings)
    register_actions(p, DEFAULT_CONFIG, parse_when)


def parse_when(text: str) -> float:
    """An argparse type: a date or ISO time (UTC if no zone) as wall time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_row(row: Mapping[str, Any], legal_hold: bool = False) -> str:
    """One recording as a line: start (UTC), call, leg, state, queue, agent, size, path (and
    ``[legal hold]`` for a call on legal hold)."""
    start = datetime.fromtimestamp(row["started_at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    size = "-" if row["size"] is None else str(row["size"])
    why = f"  ({row['reason']})" if row["reason"] else ""
    why += "  [legal hold]" if legal_hold else ""
    return (f"{start}  {row['call_id']}  {row['leg']:<8}  {row['state']:<9}  "
            f"queue={row['queue']}  agent={row['agent']}  {size}  {row['path']}{why}")


def verify(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per complete row whose file is gone or whose sha256 differs from the store's."""
    from pathlib import Path

    from edgeqa.recording.files import sha256_of

    bad = []
    for row in rows:
        if row["state"] != "complete":
            continue
        try:
            digest = sha256_of(Path(row["path"]))
        except OSError as exc:
            bad.append(f"MISMATCH {row['call_id']} {row['leg']}: {row['path']}: "
                       f"{exc.strerror or exc}")
            continue
        if digest != row["sha256"]:
            bad.append(f"MISMATCH {row['call_id']} {row['leg']}: {row['path']}: sha256 "
                       f"{digest} != stored {row['sha256']}")
    return bad


def stored_recordings(config: str, **filters: Any) -> list[dict[str, Any]]:
    """The recordings rows of the store named by ``config``, read-only; ``filters`` as
    store.db.recordings. Raise StoreReadError (2: bad config, 1: unreadable store)."""
    from edgeqa.store.db import recordings

    return query_store(config, "recordings", lambda conn: recordings(conn, **filters))


def _recordings(args: argparse.Namespace) -> int:
    try:
        rows = stored_recordings(args.config, agent=args.agent, queue=args.queue,
                                 since=args.since, until=args.until)
        held = legal_hold_marks(args.config)
    except StoreReadError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return exc.exit_status
    for row in rows:
        print(format_row(row, row["call_id"] in held))
    if not args.verify:
        return 0
    bad = verify(rows)
    for line in bad:
        print(line)
    checked = sum(r["state"] == "complete" for r in rows)
    print(f"verified {checked} files: {checked - len(bad)} match, {len(bad)} mismatch",
          file=sys.stderr)
    return 1 if bad else 0
