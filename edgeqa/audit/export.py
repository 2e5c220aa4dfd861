"""Signed exports of a range of the audit trail (pure): build one, check one offline.

An export is one JSON object (EXPORT_FORMAT, version 1): the rows of a contiguous run of ids
with their prev_hash and hash, the boundary hashes (the hash before the first row, the hash
of the last), a digest of the row hashes, and an HMAC-SHA256 over the canonical JSON of all of
that (``signed`` below), with a 256-bit key from a secret file. HMAC, not a public-key
signature: the standard library has it (no new dependency), and an export is checked by whoever
holds the key, the site's own compliance (docs/audit.md says what that implies).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from edgeqa.audit.chain import CANONICAL_NAME, CHAIN_FIELDS, Problem, Verifier

EXPORT_FORMAT = "edgeqa.audit_export"
EXPORT_VERSION = 1
SIGNATURE_ALG = "hmac-sha256"
#: Bytes of a signing key (256 bits), written as hex by `edgeqa audit keygen`.
KEY_BYTES = 32
#: The header fields the signature covers, besides the digest of the rows.
SIGNED_FIELDS = ("format", "version", "canonical", "since", "until", "created_at", "first_id",
                 "last_id", "count", "prev_hash", "head_hash", "digest")
_ROW_FIELDS = (*CHAIN_FIELDS, "prev_hash", "hash")


class ExportProblem(Exception):
    """An export file (or key) that does not check; the message says what and where."""


def new_key_text() -> str:
    """A fresh signing key, as the key file holds it (hex, one line)."""
    return secrets.token_hex(KEY_BYTES) + "\n"


def parse_key(text: str, where: str) -> bytes:
    """The key in a key file's ``text``; raise ExportProblem naming ``where`` if it is not one."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ExportProblem(f"{where} does not hold a hex key (make one with `edgeqa audit "
                            "keygen`)") from None
    if len(key) < KEY_BYTES:
        raise ExportProblem(f"{where} holds {len(key)} bytes; a key is at least {KEY_BYTES}")
    return key


def key_id(key: bytes) -> str:
    """A short public name of ``key`` (to tell keys apart; says nothing of the key)."""
    return hashlib.sha256(b"edgeqa audit key id\x00" + key).hexdigest()[:16]


def _digest(hashes: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(hashes).encode("ascii")).hexdigest()


def _signed_bytes(doc: Mapping[str, Any]) -> bytes:
    return json.dumps({k: doc[k] for k in SIGNED_FIELDS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False).encode("ascii")


def _sign(key: bytes, doc: Mapping[str, Any]) -> str:
    return hmac.new(key, _signed_bytes(doc), hashlib.sha256).hexdigest()


def build_export(rows: Sequence[Mapping[str, Any]], *, since: float | None,
                 until: float | None, created_at: float, key: bytes) -> dict[str, Any]:
    """The signed export of ``rows`` (a verified, contiguous run of ids, oldest first)."""
    if not rows:
        raise ExportProblem("no audit entries in that range")
    out_rows = [{k: row[k] for k in _ROW_FIELDS} for row in rows]
    doc: dict[str, Any] = {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "canonical": CANONICAL_NAME,
        "since": since, "until": until, "created_at": created_at,
        "first_id": out_rows[0]["id"], "last_id": out_rows[-1]["id"], "count": len(out_rows),
        "prev_hash": out_rows[0]["prev_hash"], "head_hash": out_rows[-1]["hash"],
        "digest": _digest([r["hash"] for r in out_rows]), "rows": out_rows}
    doc["signature"] = {"alg": SIGNATURE_ALG, "key_id": key_id(key), "value": _sign(key, doc)}
    return doc


def check_export(doc: Any, key: bytes) -> int:
    """Check an export (decoded JSON) with ``key``; return its row count, or raise
    ExportProblem naming the first thing wrong."""
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise ExportProblem(f"not an {EXPORT_FORMAT} file")
    if doc.get("version") != EXPORT_VERSION:
        raise ExportProblem(f"export version {doc.get('version')!r}; this edgeqa reads "
                            f"version {EXPORT_VERSION}")
    missing = [k for k in (*SIGNED_FIELDS, "rows", "signature") if k not in doc]
    if missing:
        raise ExportProblem(f"missing fields: {', '.join(missing)}")
    sig = doc["signature"]
    if not isinstance(sig, dict) or sig.get("alg") != SIGNATURE_ALG:
        raise ExportProblem(f"the signature is not {SIGNATURE_ALG}")
    if sig.get("key_id") != key_id(key):
        raise ExportProblem(f"signed with key {sig.get('key_id')!r}, not with this key "
                            f"({key_id(key)})")
    try:
        good = hmac.compare_digest(str(sig.get("value")), _sign(key, doc))
    except (TypeError, ValueError) as exc:
        raise ExportProblem(f"the signed fields are malformed ({exc})") from None
    if not good:
        raise ExportProblem("the signature does not match the header (it was changed)")
    rows = doc["rows"]
    if not isinstance(rows, list) or len(rows) != doc["count"] or not rows:
        raise ExportProblem(f"the header says {doc['count']} rows, the file holds "
                            f"{len(rows) if isinstance(rows, list) else 'none'}")
    _check_rows(rows, doc)
    return len(rows)


def _check_rows(rows: list[Any], doc: Mapping[str, Any]) -> None:
    if not all(isinstance(r, dict) and all(k in r for k in _ROW_FIELDS) for r in rows):
        raise ExportProblem(f"a row lacks one of {', '.join(_ROW_FIELDS)}")
    if not isinstance(doc["first_id"], int) or not isinstance(doc["prev_hash"], str):
        raise ExportProblem("first_id or prev_hash is malformed")
    if rows[0]["id"] != doc["first_id"]:
        raise ExportProblem(f"the first row is {rows[0]['id']}, the header says "
                            f"{doc['first_id']}")
    verifier = Verifier(last_id=doc["first_id"] - 1, last_hash=doc["prev_hash"])
    try:
        verifier.feed(rows)
    except (TypeError, ValueError) as exc:
        raise ExportProblem(f"a row is malformed ({exc})") from None
    problem: Problem | None = verifier.problem
    if problem is not None:
        raise ExportProblem(f"row {problem.row_id}: {problem.kind}: {problem.message}")
    if rows[-1]["id"] != doc["last_id"] or rows[-1]["hash"] != doc["head_hash"]:
        raise ExportProblem("the last row is not the one the header names")
    if _digest([r["hash"] for r in rows]) != doc["digest"]:
        raise ExportProblem("the rows' digest does not match the header")
