"""`edgeqa audit verify | export | verify-export | keygen`: the audit trail's hash chain and its
signed exports (docs/audit.md). verify and export read the store read-only; verify-export needs
only the file and the key."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from edgeqa.commands.recordings import parse_when
from edgeqa.commands.run import DEFAULT_CONFIG
from edgeqa.commands.storefile import StoreReadError, query_store

#: Rows one export holds at most (it is built in memory): split a longer range.
EXPORT_MAX_ROWS = 1_000_000
#: Largest export file verify-export reads.
EXPORT_MAX_BYTES = 1024 * 1024 * 1024
#: Exit status when the chain or an export does not check (1 is also a store that cannot be
#: read: the message tells them apart).
EXIT_BROKEN = 1
_HEAD = re.compile(r"([1-9][0-9]{0,18}):([0-9a-f]{64})")


def _head(text: str) -> tuple[int, str]:
    match = _HEAD.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not ID:HASH (a row id, 64 hex digits)")
    return int(match.group(1)), match.group(2)


def _config_arg(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: `edgeqa audit -c FILE verify` keeps the -c given before the subcommand.
    p.add_argument("--config", "-c", default=argparse.SUPPRESS, metavar="FILE",
                   help=f"the daemon's configuration, for its [store] path and [audit] "
                        f"signing_key_file (default {DEFAULT_CONFIG})")


def register_chain_commands(parent: argparse.ArgumentParser) -> None:
    """Add verify, export, verify-export and keygen under `edgeqa audit`."""
    sub = parent.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    p = sub.add_parser("verify", help="check the audit trail's hash chain",
                       description="Check every row's hash and link, the chain heads the event "
                                   "log keeps, and the end of the table. Exit 0 with the count "
                                   "verified; 1 naming the first bad row and what is wrong.")
    _config_arg(p)
    p.add_argument("--head", type=_head, action="append", default=[], metavar="ID:HASH",
                   help="a chain head kept elsewhere (e.g. from an export or the stream): row "
                        "ID must exist with this hash (repeatable)")
    p.set_defaults(func=_verify)
    p = sub.add_parser("export", help="write a signed range of the audit trail",
                       description="Write the rows from the first entry at or after --since to "
                                   "the last one before --until (a contiguous run of ids), "
                                   "their hashes and an HMAC-SHA256 signature, to --out "
                                   "(created 0600). The whole chain is verified first.")
    _config_arg(p)
    p.add_argument("--since", type=parse_when, metavar="DATE",
                   help="at or after (YYYY-MM-DD or ISO time; UTC if no zone)")
    p.add_argument("--until", type=parse_when, metavar="DATE", help="before (same form)")
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="the file to create")
    p.add_argument("--key", type=Path, metavar="FILE",
                   help="the signing key (default: [audit] signing_key_file)")
    p.set_defaults(func=_export)
    p = sub.add_parser("verify-export", help="check a signed export offline",
                       description="Check an export's signature, every row's hash and link, "
                                   "and its boundary hashes. Needs the key, not the store.")
    _config_arg(p)
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--key", type=Path, metavar="FILE",
                   help="the signing key (default: [audit] signing_key_file)")
    p.set_defaults(func=_verify_export)
    p = sub.add_parser("keygen", help="create the export signing key (0600)",
                       description="Write a new 256-bit key to [audit] signing_key_file (or "
                                   "--key); an existing file is never replaced.")
    _config_arg(p)
    p.add_argument("--key", type=Path, metavar="FILE", help="where (default: the config's)")
    p.set_defaults(func=_keygen)


def _fail(message: str, status: int = EXIT_BROKEN) -> int:
    print(f"edgeqa: {message}", file=sys.stderr)
    return status


def _key_path(args: argparse.Namespace) -> Path:
    """--key, else the configuration's [audit] signing_key_file (StoreReadError 2 if bad)."""
    if args.key is not None:
        return Path(args.key)
    from edgeqa.config import ConfigError, load_config

    try:
        cfg = load_config(getattr(args, "config", DEFAULT_CONFIG),
                          env={"EDGEQA_AMI_SECRET": "-", "EDGEQA_ARI_PASSWORD": "-"})
    except ConfigError as exc:
        raise StoreReadError(str(exc), 2) from exc
    return cfg.audit.key_path(cfg.store.path)


def _load_key(args: argparse.Namespace) -> bytes:
    from edgeqa.audit.export import ExportProblem, parse_key
    from edgeqa.config.files import MAX_SECRET_BYTES, FileProblem, read_text_file

    path = _key_path(args)
    try:
        return parse_key(read_text_file(path, max_bytes=MAX_SECRET_BYTES, private=True),
                         str(path))
    except FileProblem as exc:
        raise ExportProblem(f"signing key: {exc}") from None


def _verify(args: argparse.Namespace) -> int:
    from edgeqa.audit.db import verify_store

    try:
        verifier = query_store(getattr(args, "config", DEFAULT_CONFIG), "the audit trail",
                               lambda conn: verify_store(conn, dict(args.head)))
    except StoreReadError as exc:
        return _fail(str(exc), exc.exit_status)
    if verifier.problem is not None:
        return _fail(f"audit verify FAILED after {verifier.count} good rows: "
                     f"{verifier.problem}")
    print(f"audit verify: {verifier.count} rows verified; chain head "
          f"{verifier.last_id}:{verifier.last_hash}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from edgeqa.audit.export import ExportProblem

    try:
        key = _load_key(args)
        doc = query_store(getattr(args, "config", DEFAULT_CONFIG), "the audit trail",
                          lambda conn: _build(conn, args, key))
        _write_new(args.out, json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
    except StoreReadError as exc:
        return _fail(str(exc), exc.exit_status)
    except ExportProblem as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    print(f"audit export: rows {doc['first_id']}..{doc['last_id']} ({doc['count']}) to "
          f"{args.out}; head {doc['last_id']}:{doc['head_hash']}")
    return 0


def _build(conn: Any, args: argparse.Namespace, key: bytes) -> dict[str, Any]:
    from edgeqa.audit.db import chained_rows, range_ids, verify_store
    from edgeqa.audit.export import ExportProblem, build_export

    verifier = verify_store(conn)
    if verifier.problem is not None:
        raise ExportProblem(f"the audit trail does not verify, nothing exported: "
                            f"{verifier.problem}")
    ids = range_ids(conn, args.since, args.until)
    if ids is None:
        raise ExportProblem("no audit entries in that range")
    if ids[1] - ids[0] + 1 > EXPORT_MAX_ROWS:
        raise ExportProblem(f"rows {ids[0]}..{ids[1]} are over {EXPORT_MAX_ROWS} rows: export "
                            "a shorter range")
    rows = list(chained_rows(conn, ids[0], ids[1]))
    return build_export(rows, since=args.since, until=args.until, created_at=time.time(),
                        key=key)


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` (0600, never replacing a file) with ``text``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)


def _read_export(path: Path) -> Any:
    """Decode the export file ``path``; raise ExportProblem."""
    from edgeqa.audit.export import ExportProblem
    from edgeqa.config.files import FileProblem, read_text_file

    try:
        return json.loads(read_text_file(path, max_bytes=EXPORT_MAX_BYTES))
    except FileProblem as exc:
        raise ExportProblem(str(exc)) from None
    except ValueError as exc:
        raise ExportProblem(f"{path} is not JSON ({exc})") from None


def _verify_export(args: argparse.Namespace) -> int:
    from edgeqa.audit.export import ExportProblem, check_export

    try:
        key = _load_key(args)
        doc = _read_export(args.file)
        count = check_export(doc, key)
    except StoreReadError as exc:
        return _fail(str(exc), exc.exit_status)
    except ExportProblem as exc:
        return _fail(f"audit verify-export FAILED: {args.file}: {exc}")
    print(f"audit verify-export: {count} rows verified ({doc['first_id']}..{doc['last_id']}); "
          f"head {doc['last_id']}:{doc['head_hash']}")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from edgeqa.audit.export import new_key_text
    from edgeqa.runtime.private import make_private_dirs

    try:
        path = _key_path(args)
        make_private_dirs(path.parent)
        _write_new(path, new_key_text())
    except StoreReadError as exc:
        return _fail(str(exc), exc.exit_status)
    except FileExistsError:
        return _fail(f"{path} exists: a key is never replaced (remove it first if you mean "
                     "to; exports signed with it then no longer check)")
    except OSError as exc:
        return _fail(f"cannot write the key: {exc.strerror or exc}")
    print(f"audit keygen: wrote {path} (mode 0600)")
    return 0
