"""`edgeqa recordings purge | legal-hold`: retention by hand, and legal holds, on the store.

Both work on the store file directly (SQLite in WAL mode: short transactions next to a
running daemon's), each change audited with actor ``cli:<user>``:
- ``legal-hold CALL --reason TEXT`` / ``legal-hold --clear CALL`` write only the legal_holds
  and audit tables, which the daemon reads at each retention run: safe while it runs.
- ``purge`` marks rows with recording.deleted events. Written by a second process, those
  would bypass the running daemon's stream (live subscribers would miss them and its next
  sequence numbers would be out of step), so ``purge`` refuses while the daemon answers on
  its [api] port: the daemon runs the same job itself every [recording] retention_interval_s.
  ``purge --dry-run`` only reads, and always works.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from edgeqa.audit.model import Actor
    from edgeqa.config import Config
    from edgeqa.store import Store

T = TypeVar("T")
#: How long `purge` waits for the daemon's API port to answer (it refuses if it does).
DAEMON_PROBE_TIMEOUT_S = 1.0


def register_actions(parser: argparse.ArgumentParser, default_config: str,
                     parse_when: Callable[[str], float]) -> None:
    """Add ``purge`` and ``legal-hold`` under `edgeqa recordings` (``parse_when``: its
    argparse type of a time)."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    conf_help = f"the daemon's configuration (default {default_config})"
    purge = sub.add_parser(
        "purge", help="delete the recordings past their retention (daemon stopped)",
        description="Delete the files that [recording] retention_days / queue_retention_days "
                    "make due (never a call on legal hold, never one still recording), audit "
                    "each deletion and mark its row deleted. The daemon does this itself every "
                    "retention_interval_s; this command refuses while it runs, except with "
                    "--dry-run.")
    purge.add_argument("--config", "-c", default=argparse.SUPPRESS, metavar="FILE",
                       help=conf_help)
    purge.add_argument("--dry-run", action="store_true",
                       help="list what would be deleted; change nothing")
    purge.add_argument("--now", type=parse_when, metavar="TIME",
                       help="judge ages as of this time (ISO; UTC if no zone) instead of now")
    purge.set_defaults(func=_purge)
    hold = sub.add_parser(
        "legal-hold", help="put a call's recordings on legal hold, or clear it",
        description="A call on legal hold is never deleted by retention. Setting and "
                    "clearing are audited (legal_hold.set, legal_hold.cleared).")
    hold.add_argument("call", help="the call id")
    how = hold.add_mutually_exclusive_group(required=True)
    how.add_argument("--reason", help="why (e.g. a case number): required to set it")
    how.add_argument("--clear", action="store_true", help="take the call off legal hold")
    hold.add_argument("--config", "-c", default=argparse.SUPPRESS, metavar="FILE",
                      help=conf_help)
    hold.set_defaults(func=_legal_hold)


def cli_actor() -> Actor:
    """The person at the terminal (the sudo caller, if any), for the audit trail."""
    from edgeqa.audit.model import Actor

    try:
        name = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container)
        name = f"uid{os.getuid()}"
    try:
        return Actor("cli", name)
    except ValueError:
        return Actor("cli", f"uid{os.getuid()}")


def _config(path: str) -> Config:
    from edgeqa.commands.storefile import StoreReadError
    from edgeqa.config import ConfigError, load_config

    # [store], [api] and [recording] only: placeholder secrets spare the daemon's secret files.
    try:
        cfg = load_config(path, env={"EDGEQA_AMI_SECRET": "-", "EDGEQA_ARI_PASSWORD": "-"})
    except ConfigError as exc:
        raise StoreReadError(str(exc), 2) from exc
    if not cfg.store.path.is_file():
        raise StoreReadError(f"no store at {cfg.store.path} (has `edgeqa run` opened it "
                             "once?)", 1)
    return cfg


def _with_store(cfg: Config, work: Callable[[Store], Awaitable[T]]) -> T:
    from edgeqa.store import Store

    async def run() -> T:
        s = cfg.store
        store = Store(s.path, synchronous="full", batch_max_events=s.batch_max_events,
                      retention_max_events=s.retention_max_events)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def daemon_answers(host: str, port: int, timeout_s: float = DAEMON_PROBE_TIMEOUT_S) -> bool:
    """Whether something accepts connections on the daemon's API address."""
    if port == 0:
        return False  # a port picked at start: nothing to probe
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _run(args: argparse.Namespace, command: Callable[[argparse.Namespace], int]) -> int:
    from edgeqa.commands.storefile import StoreReadError

    try:
        return command(args)
    except StoreReadError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return exc.exit_status


def _purge(args: argparse.Namespace) -> int:
    return _run(args, _purge_store)


def _purge_store(args: argparse.Namespace) -> int:
    from edgeqa.recording.playback import STEREO_CACHE_DIR
    from edgeqa.recording.purge import PurgeReport, RetentionJob

    cfg = _config(args.config)
    if not args.dry_run and daemon_answers(cfg.api.host, cfg.api.port):
        print(f"edgeqa: the daemon is running (its API answers on {cfg.api.host}:"
              f"{cfg.api.port}): it purges every {cfg.recording.retention_interval_s:g} s by "
              "itself; stop it to purge by hand, or use --dry-run", file=sys.stderr)
        return 1
    now = time.time() if args.now is None else args.now

    async def purge(store: Store) -> PurgeReport:
        job = RetentionJob(cfg.recording, store, store.append, wall=time.time,
                           actor=cli_actor(),
                           stereo_cache=cfg.store.path.parent / STEREO_CACHE_DIR)
        return await job.run_once(now, dry_run=args.dry_run)

    report = _with_store(cfg, purge)
    verb = "would delete" if args.dry_run else "deleted"
    for item in report.due:
        row = item.row
        print(f"{verb}  {row['call_id']}  {row['leg']:<8}  {row['path']}  ({item.reason})")
    when = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if args.dry_run:
        summary = f"{len(report.due)} files due as of {when}"
    else:
        summary = (f"as of {when}: {report.deleted} files deleted, {report.already_gone} "
                   f"already gone, {report.failed} failed, {report.held} on legal hold")
    print(summary + (" (more are due: run again)" if report.more else ""), file=sys.stderr)
    return 1 if report.failed else 0


def _legal_hold(args: argparse.Namespace) -> int:
    return _run(args, _legal_hold_store)


def _legal_hold_store(args: argparse.Namespace) -> int:
    from edgeqa.recording.legal_hold import LegalHoldError, clear_legal_hold, set_legal_hold

    cfg = _config(args.config)
    actor = cli_actor()

    async def change(store: Store) -> str:
        if args.clear:
            hold = await clear_legal_hold(store, args.call, actor, time.time())
            return f"call {args.call}: legal hold cleared (set by {hold['set_by']}: " \
                   f"{hold['reason']})"
        hold, new = await set_legal_hold(store, args.call, args.reason, actor, time.time())
        if not new:
            return f"call {args.call}: already on legal hold (set by {hold['set_by']}: " \
                   f"{hold['reason']})"
        return f"call {args.call}: on legal hold ({hold['reason']})"

    try:
        print(_with_store(cfg, change))
    except LegalHoldError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return 1
    return 0


def legal_hold_marks(config: str) -> dict[str, Any]:
    """The legal holds of the store named by ``config``, read-only, by call id."""
    from edgeqa.commands.storefile import query_store
    from edgeqa.store.db import legal_holds

    return query_store(config, "legal holds", legal_holds)
