"""`edgeqa export CALL --stereo OUT.wav`: a recorded call as one stereo WAV (customer left).

Like `edgeqa recordings`, it reads the store file read-only (the [store] path of --config) and
works while the daemon is down.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgeqa.commands.run import DEFAULT_CONFIG


def register(subparsers: Any) -> None:
    """Add the `export` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "export", help="write a recorded call as a stereo WAV (customer left, agent right)",
        description="Write CALL's two recorded legs as one stereo 16-bit PCM WAV: the customer "
                    "left, the agent right, aligned by each file's start. Each leg's sha256 is "
                    "checked against the store first. Exit 2 if it cannot be written.")
    p.add_argument("call", metavar="CALL", help="call id (as in `edgeqa recordings`)")
    p.add_argument("--stereo", required=True, metavar="OUT.wav", help="the file to write")
    p.add_argument("--config", "-c", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"the daemon's configuration, for its [store] path "
                        f"(default {DEFAULT_CONFIG})")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edgeqa.commands.recordings import stored_recordings
    from edgeqa.commands.storefile import StoreReadError
    from edgeqa.recording.stereo import ExportError, build_stereo

    try:
        rows = stored_recordings(args.config, call_id=args.call)
    except StoreReadError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return 2  # export: every refusal is status 2
    try:
        facts = build_stereo(args.call, rows, Path(args.stereo))
    except ExportError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.stereo}: {facts.frames / facts.sample_rate:.1f} s stereo at "
          f"{facts.sample_rate} Hz (customer left, agent right)", file=sys.stderr)
    return 0
