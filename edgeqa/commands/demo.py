"""`edgeqa demo`: start the sandbox and the daemon, place fixture calls, show the stream live."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `demo` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="live demo on the sandbox PBX (needs `make setup`)",
        description="Start the sandbox PBX and the daemon, place three fixture calls between "
                    "softphones, show the daemon's live stream, then stop everything.")
    p.add_argument("--calls-dir", type=Path, default=None,
                   help="fixture legs (default: the repository's tests/data/calls)")
    p.add_argument("--talk-scale", type=float, default=1.0,
                   help="scale every call's length (0.5 = half as long)")
    p.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR",
                   help="keep the daemon's config, store and logs in DIR")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from edgeqa.sandbox.demo.runner import DEMO_BUDGET_S, default_calls_dir, run_demo

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    calls_dir = args.calls_dir or default_calls_dir()
    if not calls_dir.is_dir():
        print(f"edgeqa demo: no fixture calls at {calls_dir} (use --calls-dir)", file=sys.stderr)
        return 2
    tty = sys.stdout.isatty() and not args.plain

    async def main() -> int:
        async with asyncio.timeout(DEMO_BUDGET_S):
            return await run_demo(calls_dir=calls_dir, out=sys.stdout, tty=tty,
                                  talk_scale=args.talk_scale, keep_dir=args.keep)

    try:
        return asyncio.run(main())
    except TimeoutError:
        print(f"edgeqa demo: did not finish within {DEMO_BUDGET_S:.0f} s", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"edgeqa demo: {exc}", file=sys.stderr)
        return 1
