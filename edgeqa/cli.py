"""Command line: `edgeqa <command>`. Parsing only; each command lives in edgeqa.commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from edgeqa import __version__

#: Command modules, in help order. Each exposes ``register(subparsers)`` which adds its
#: parser and sets ``func=`` to a callable taking the parsed namespace and returning an
#: exit status. Modules import their heavy dependencies inside ``func`` so that
#: ``edgeqa --help`` stays fast.
COMMAND_MODULES: tuple[str, ...] = (
    "edgeqa.commands.run",
    "edgeqa.commands.check_config",
    "edgeqa.commands.calls",
    "edgeqa.commands.pci",
    "edgeqa.commands.spy",
    "edgeqa.commands.hints",  # issue 13
    "edgeqa.commands.recordings",
    "edgeqa.commands.export",
    "edgeqa.commands.audit",
    "edgeqa.commands.token",
    "edgeqa.commands.analyze",
    "edgeqa.commands.sandbox",
    "edgeqa.commands.demo",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available command registered."""
    parser = argparse.ArgumentParser(
        prog="edgeqa",
        description="Per-leg acoustic QA, supervision and metric feed for Asterisk.",
    )
    parser.add_argument("--version", action="version", version=f"edgeqa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # command not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `edgeqa` script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = func(args)
    except KeyboardInterrupt:
        return 130
    return status
