"""`edgeqa check-config FILE`: validate a configuration; say everything that is wrong, one line
each with its key (exit 0/2). No secret is ever printed."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `check-config` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "check-config", help="validate a configuration file",
        description="Validate an edgeqa TOML configuration (secrets included) and exit 0 or 2.")
    p.add_argument("file", help="the TOML file to check")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from edgeqa.config import ConfigError, load_config

    try:
        cfg = load_config(args.file)
    except ConfigError as exc:
        for error in exc.errors:
            print(f"edgeqa: {error}", file=sys.stderr)
        return 2
    print(f"{cfg.source}: OK (AMI {cfg.ami.username}@{cfg.ami.host}:{cfg.ami.port}, "
          f"ARI {cfg.ari.url} app {cfg.ari.app}, store {cfg.store.path}, "
          f"API http://{cfg.api.host}:{cfg.api.port}/v1/)")
    return 0
