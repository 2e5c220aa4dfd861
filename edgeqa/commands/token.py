"""`edgeqa token add | list | revoke`: API tokens with roles, on the store file.

They write the store directly (SQLite in WAL mode, short transactions beside a running
daemon's), like `edgeqa recordings legal-hold`; the daemon reads the tokens table at every
request, so a new token works, and a revoked one stops working, at once. Each change is
audited with actor ``cli:<user>``. A secret is printed once, at ``add``: only its hash is kept.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from edgeqa.commands.run import DEFAULT_CONFIG

if TYPE_CHECKING:
    from edgeqa.store import Store


def register(subparsers: Any) -> None:
    """Add the `token` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "token", help="add, list or revoke API tokens (roles: docs/access.md)",
        description="API tokens: each has a role (admin, supervisor, agent, feed, metrics) "
                    "and, for a supervisor, the queues and teams it sees; for an agent, "
                    "the agent it is. Clients send it as Authorization: Bearer <token>.")
    conf = argparse.ArgumentParser(add_help=False)
    conf.add_argument("--config", "-c", default=DEFAULT_CONFIG, metavar="FILE",
                      help=f"the daemon's configuration, for its [store] path "
                           f"(default {DEFAULT_CONFIG})")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", parents=[conf], help="create a token; print its secret once")
    add.add_argument("name", metavar="NAME", help="whom or what it is for (e.g. alice, crm)")
    add.add_argument("--role", required=True,
                     choices=("admin", "supervisor", "agent", "feed", "metrics"))
    add.add_argument("--scope", action="append", default=[], metavar="queue:NAME|team:NAME",
                     help="a supervisor's queue or team ([auth.teams]); repeat for more")
    add.add_argument("--agent", metavar="ID", help="an agent's identity as the tracker names "
                                                   "it: PJSIP/agent1, or its member name")
    add.set_defaults(func=_add)
    lst = sub.add_parser("list", parents=[conf], help="list tokens (never their secrets)")
    lst.set_defaults(func=_list)
    rev = sub.add_parser("revoke", parents=[conf], help="revoke a token (and its sessions)")
    rev.add_argument("id", type=int, metavar="ID", help="the token's id (see `token list`)")
    rev.set_defaults(func=_revoke)


def _run(args: argparse.Namespace, work: Any) -> int:
    """Open the store of --config (created if new), run ``work(store)``; errors as text."""
    from edgeqa.auth.model import ScopeError
    from edgeqa.auth.service import TokenError
    from edgeqa.commands.recording_admin import _with_store
    from edgeqa.config import ConfigError, load_config

    try:
        cfg = load_config(args.config, env={"EDGEQA_AMI_SECRET": "-", "EDGEQA_ARI_PASSWORD": "-"})
    except ConfigError as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return 2

    try:
        status: int = _with_store(cfg, work)
        return status
    except (TokenError, ScopeError) as exc:
        print(f"edgeqa: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the store cannot be opened or written (sqlite3, OSError)
        print(f"edgeqa: cannot use the store {cfg.store.path}: {exc}", file=sys.stderr)
        return 1


def _add(args: argparse.Namespace) -> int:
    from edgeqa.auth.model import make_scope
    from edgeqa.auth.service import add_token
    from edgeqa.commands.recording_admin import cli_actor

    async def work(store: Store) -> int:
        scope = make_scope(args.role, args.scope, args.agent)
        token_id, secret = await add_token(store, args.name, args.role, scope, cli_actor(),
                                           time.time())
        print(f"token {token_id} ({args.name}, {args.role}, {scope.describe()}) created; "
              "its secret is shown only this once:", file=sys.stderr)
        print(secret)
        return 0

    return _run(args, work)


def _when(at: float | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _list(args: argparse.Namespace) -> int:
    from edgeqa.auth import db
    from edgeqa.auth.model import Scope

    async def work(store: Store) -> int:
        for row in await store.run(db.token_rows):
            state = "live" if row["revoked_at"] is None else f"revoked {_when(row['revoked_at'])}"
            print(f"{row['id']:>4}  {row['name']:<20}  {row['role']:<10}  "
                  f"{Scope.from_json(row['scope']).describe():<30}  "
                  f"created {_when(row['created_at'])}  {state}")
        return 0

    return _run(args, work)


def _revoke(args: argparse.Namespace) -> int:
    from edgeqa.auth.service import revoke_token
    from edgeqa.commands.recording_admin import cli_actor

    async def work(store: Store) -> int:
        await revoke_token(store, args.id, cli_actor(), time.time())
        print(f"token {args.id} revoked")
        return 0

    return _run(args, work)
