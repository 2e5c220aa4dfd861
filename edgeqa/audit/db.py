"""The audit table's own SQL: the hash-chain migration (store migration 6), the chained insert,
and the reads that verification and export need. Synchronous; the caller owns the transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from edgeqa.audit.chain import CHAIN_FIELDS, GENESIS_HASH, Verifier, row_hash

#: The columns verification and export read, in this order.
CHAINED_COLUMNS = (*CHAIN_FIELDS, "prev_hash", "hash")
#: Rows read (or chained by the migration) per query.
CHAIN_PAGE_ROWS = 5000
#: The event type that puts each committed row on the stream (and keeps the chain head in
#: the event log).
AUDIT_EVENT_TYPE = "audit.entry"
APPEND_ONLY = "the audit trail is append-only"
#: Statements after the columns are added and the rows chained (each one statement: a
#: trigger body holds ';', so this list is not split on it).
_TRIGGERS = (
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
)


def migrate_chain(conn: sqlite3.Connection) -> None:
    """Store migration 6: add source, prev_hash and hash to audit, chain the existing rows in
    id order, then refuse UPDATE and DELETE on the table (inside the migration's transaction)."""
    for column in ("source", "prev_hash", "hash"):
        conn.execute(f"ALTER TABLE audit ADD COLUMN {column} TEXT")
    prev, after = GENESIS_HASH, 0
    while page := _page(conn, after):
        for row in page:
            digest = row_hash(row, prev)
            conn.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?",
                         (prev, digest, row["id"]))
            prev, after = digest, row["id"]
    for statement in _TRIGGERS:
        conn.execute(statement)


def _page(conn: sqlite3.Connection, after: int) -> list[dict[str, Any]]:
    cols = ", ".join(CHAINED_COLUMNS)
    rows = conn.execute(f"SELECT {cols} FROM audit WHERE id > ? ORDER BY id LIMIT ?",
                        (after, CHAIN_PAGE_ROWS)).fetchall()
    return [dict(zip(CHAINED_COLUMNS, r, strict=True)) for r in rows]


def insert_chained(conn: sqlite3.Connection, fields: dict[str, Any]) -> dict[str, Any]:
    """Insert the row ``fields`` (CHAIN_FIELDS but id) linked to the last row, inside the
    caller's write transaction (which holds SQLite's write lock from the read of the last
    hash to the insert: no other writer, in this process or another, comes between).
    Return the row as stored, with id, prev_hash and hash."""
    last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    row = dict(fields)
    row["id"] = max(int(seq[0]) if seq else 0, int(last[0]) if last else 0) + 1
    row["prev_hash"] = str(last[1]) if last and last[1] is not None else GENESIS_HASH
    row["hash"] = row_hash(row, row["prev_hash"])
    cols = ", ".join(CHAINED_COLUMNS)
    conn.execute(f"INSERT INTO audit ({cols}) VALUES ({', '.join('?' for _ in CHAINED_COLUMNS)})",
                 [row[c] for c in CHAINED_COLUMNS])
    return row


def event_payload(row: dict[str, Any]) -> dict[str, Any]:
    """The ``audit.entry`` v1 payload of a stored row (schemas/audit.entry.v1.json)."""
    return {"id": row["id"], "at": row["at"],
            "actor": {"kind": row["actor_kind"], "name": row["actor_name"]},
            "action": row["action"], "call_id": row["call_id"], "source": row["source"],
            "detail": json.loads(row["detail"]), "prev_hash": row["prev_hash"],
            "hash": row["hash"]}


def chained_rows(conn: sqlite3.Connection, first_id: int = 1,
                 last_id: int | None = None) -> Iterator[dict[str, Any]]:
    """Every row from ``first_id`` to ``last_id`` (inclusive; None: the end), in id order."""
    after = first_id - 1
    while page := _page(conn, after):
        for row in page:
            if last_id is not None and row["id"] > last_id:
                return
            yield row
        after = page[-1]["id"]


def anchors(conn: sqlite3.Connection) -> dict[int, str]:
    """The chain heads the event log keeps: audit id -> hash of every audit.entry event."""
    out: dict[int, str] = {}
    for (text,) in conn.execute("SELECT data FROM events WHERE type = ?", (AUDIT_EVENT_TYPE,)):
        try:
            data = json.loads(text)
            out[int(data["id"])] = str(data["hash"])
        except (ValueError, KeyError, TypeError):
            continue  # a broken event names no head; the rows are checked all the same
    return out


def sequence(conn: sqlite3.Connection) -> int | None:
    """The highest audit id SQLite ever assigned (None if it holds none)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    return int(row[0]) if row else None


def verify_store(conn: sqlite3.Connection,
                 heads: Mapping[int, str] | None = None) -> Verifier:
    """Check the whole audit table: every link, the event log's chain heads (audit.entry
    events: every row since the oldest one kept must have its event, with its hash), SQLite's
    id sequence (rows deleted from the end), and ``heads`` (id -> hash kept elsewhere)."""
    logged = anchors(conn)
    verifier = Verifier(anchors={**logged, **(heads or {})},
                        covered_from=min(logged) if logged else None, sequence=sequence(conn))
    verifier.feed(chained_rows(conn))
    verifier.finish()
    return verifier


def range_ids(conn: sqlite3.Connection, since: float | None,
              until: float | None) -> tuple[int, int] | None:
    """The contiguous run of ids from the first entry at or after ``since`` to the last one
    before ``until`` (None: no entry in the range)."""
    first = conn.execute("SELECT min(id) FROM audit WHERE at >= ?",
                         (since if since is not None else float("-inf"),)).fetchone()[0]
    last = conn.execute("SELECT max(id) FROM audit WHERE at < ?",
                        (until if until is not None else float("inf"),)).fetchone()[0]
    if first is None or last is None or first > last:
        return None
    return int(first), int(last)
