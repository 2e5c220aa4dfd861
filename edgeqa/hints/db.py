"""The hints table (edgeqa.store.schema migration 8): every hint, active or ended, with what
it changed.

Synchronous: only the store's writer thread runs these (``Store.run``)."""

from __future__ import annotations

import json
import sqlite3

from edgeqa.hints.model import Hint

#: Ended hints read back at start (the cooldown looks at the newest per agent).
RECENT_ENDED_ROWS = 1000


def put_hint(conn: sqlite3.Connection, hint: Hint) -> None:
    """Insert or replace ``hint``'s row (committed on return)."""
    conn.execute(
        "INSERT OR REPLACE INTO hints (id, interface, queue, state, created_at, expires_at, "
        "data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (hint.id, hint.interface, hint.queue, hint.state, hint.created_at, hint.expires_at,
         json.dumps(hint.to_dict(), sort_keys=True)))


def hints(conn: sqlite3.Connection, *, since: float | None = None) -> list[Hint]:
    """Every active hint, and the ended ones created at or after ``since`` (newest
    RECENT_ENDED_ROWS), oldest first."""
    rows = conn.execute("SELECT data FROM hints WHERE state = 'active' ORDER BY created_at"
                        ).fetchall()
    if since is not None:
        rows += conn.execute(
            "SELECT data FROM (SELECT data, created_at FROM hints WHERE state != 'active' "
            "AND created_at >= ? ORDER BY created_at DESC LIMIT ?) ORDER BY created_at",
            (since, RECENT_ENDED_ROWS)).fetchall()
    return sorted((Hint.from_dict(json.loads(text)) for (text,) in rows),
                  key=lambda h: h.created_at)
