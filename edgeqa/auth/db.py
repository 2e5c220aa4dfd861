"""Synchronous SQLite operations on the tokens and sessions tables (store migration 5).

Secrets are never stored: a token's row and a session's row hold the SHA-256 of the secret.
A token secret is 256 random bits (secrets.token_urlsafe(32)), so no guessing attack can
search its space: a slow password hash (bcrypt, argon2) would buy nothing, and one SHA-256
lets every request be checked with one indexed lookup. A stolen database yields no usable
token.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

from edgeqa.auth.model import Principal, Scope
from edgeqa.store.db import _transaction  # the store's one write-transaction helper

#: The tokens table's columns that token_rows() returns (never the hash).
TOKEN_COLUMNS = ("id", "name", "role", "scope", "created_at", "revoked_at")


def digest(secret: str) -> str:
    """The hex SHA-256 of a secret, as stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _principal(row: tuple[Any, ...]) -> Principal:
    return Principal(int(row[0]), str(row[1]), row[2], Scope.from_json(row[3]))


def add_token(conn: sqlite3.Connection, name: str, role: str, scope: Scope, secret_hash: str,
              at: float) -> int:
    """Insert a token (its own transaction); return its id."""
    with _transaction(conn):
        cur = conn.execute("INSERT INTO tokens (name, role, scope, hash, created_at) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (name, role, scope.to_json(), secret_hash, at))
    return int(cur.lastrowid or 0)


def revoke_token(conn: sqlite3.Connection, token_id: int, at: float) -> bool:
    """Revoke a live token and end its sessions; False if there is no such live token."""
    with _transaction(conn):
        cur = conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                           (at, token_id))
        conn.execute("DELETE FROM sessions WHERE token_id = ?", (token_id,))
    return cur.rowcount > 0


def live_token_ids(conn: sqlite3.Connection, name: str) -> list[int]:
    """The ids of the tokens named ``name`` that are not revoked."""
    return [int(r[0]) for r in conn.execute(
        "SELECT id FROM tokens WHERE name = ? AND revoked_at IS NULL ORDER BY id", (name,))]


def token_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every token, oldest first, without its hash."""
    rows = conn.execute(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens ORDER BY id")
    return [dict(zip(TOKEN_COLUMNS, r, strict=True)) for r in rows]


def principal_by_hash(conn: sqlite3.Connection, secret_hash: str) -> Principal | None:
    """The live token whose secret has this hash."""
    row = conn.execute("SELECT id, name, role, scope FROM tokens WHERE hash = ? AND "
                       "revoked_at IS NULL", (secret_hash,)).fetchone()
    return None if row is None else _principal(row)


def add_session(conn: sqlite3.Connection, session_hash: str, token_id: int, csrf_hash: str,
                at: float, expires_at: float) -> None:
    """Insert a browser session (and drop expired ones) in one transaction."""
    with _transaction(conn):
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (at,))
        conn.execute("INSERT INTO sessions (hash, token_id, csrf, created_at, expires_at) "
                     "VALUES (?, ?, ?, ?, ?)", (session_hash, token_id, csrf_hash, at, expires_at))


def session_by_hash(conn: sqlite3.Connection, session_hash: str,
                    now: float) -> tuple[Principal, str] | None:
    """The principal and CSRF hash of an unexpired session whose token is live."""
    row = conn.execute(
        "SELECT t.id, t.name, t.role, t.scope, s.csrf FROM sessions s JOIN tokens t "
        "ON t.id = s.token_id WHERE s.hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL",
        (session_hash, now)).fetchone()
    return None if row is None else (_principal(row), str(row[4]))


def end_session(conn: sqlite3.Connection, session_hash: str) -> bool:
    """Delete a session; False if there was none."""
    with _transaction(conn):
        cur = conn.execute("DELETE FROM sessions WHERE hash = ?", (session_hash,))
    return cur.rowcount > 0


def stored_call(conn: sqlite3.Connection, call_id: str) -> dict[str, Any] | None:
    """The latest stored call.* payload's ``call`` object of ``call_id`` (or None)."""
    row = conn.execute("SELECT data FROM calls WHERE id = ?", (call_id,)).fetchone()
    if row is None:
        return None
    data = json.loads(row[0])
    call = data.get("call", data) if isinstance(data, dict) else None
    return call if isinstance(call, dict) else None

