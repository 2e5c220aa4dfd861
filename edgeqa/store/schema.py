"""Schema migrations: an ordered list, applied in one transaction each, tracked by user_version."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from edgeqa.audit.db import migrate_chain

log = logging.getLogger(__name__)

#: Migration N (1-based) brings the database from user_version N-1 to N. Append only. A
#: migration is SQL text (statements split on ';') or a function run on the connection.
MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
    # 1: the event log (the stream's durable sequence) and the call/leg projections.
    """
    CREATE TABLE events (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a seq is never reused
        type   TEXT NOT NULL,
        at     REAL NOT NULL,
        schema TEXT NOT NULL,
        data   TEXT NOT NULL
    );
    CREATE TABLE calls (
        id         TEXT PRIMARY KEY,
        started_at REAL,
        ended_at   REAL,
        data       TEXT NOT NULL,
        last_seq   INTEGER NOT NULL
    );
    CREATE INDEX calls_open ON calls (ended_at);
    CREATE TABLE legs (
        id       TEXT PRIMARY KEY,
        call_id  TEXT,
        data     TEXT NOT NULL,
        last_seq INTEGER NOT NULL
    );
    CREATE INDEX legs_call ON legs (call_id);
    """,
    # 2: the latest live-metrics checkpoint of each call still up (not on the event stream):
    # what the daemon heard of it up to covered_to_s, so that a killed daemon loses little.
    """
    CREATE TABLE checkpoints (
        call_id      TEXT PRIMARY KEY,
        started_at   REAL NOT NULL,  -- wall time of the call time the summary is measured on
        covered_to_s REAL NOT NULL,  -- call time up to which the summary accounts
        summary      TEXT NOT NULL,  -- edgeqa.call_summary/2 JSON
        at           REAL NOT NULL   -- wall time of covered_to_s (oldest rows go first)
    );
    CREATE INDEX checkpoints_at ON checkpoints (at);
    """,
    # 3: one row per recorded leg file, kept at its latest recording.* event (the event log
    # says how it got there). state: recording, complete, missing, corrupt.
    """
    CREATE TABLE recordings (
        call_id    TEXT NOT NULL,
        leg        TEXT NOT NULL,   -- customer | agent
        path       TEXT NOT NULL,   -- as the daemon sees it
        started_at REAL NOT NULL,
        ended_at   REAL,
        codec      TEXT,            -- pcm_s16le/8000
        size       INTEGER,         -- bytes
        sha256     TEXT,            -- hex, computed once the file was closed
        state      TEXT NOT NULL,
        reason     TEXT,            -- why missing or corrupt
        queue      TEXT,
        agent      TEXT,
        last_seq   INTEGER NOT NULL,
        PRIMARY KEY (call_id, leg)
    );
    CREATE INDEX recordings_state ON recordings (state);
    CREATE INDEX recordings_started ON recordings (started_at);
    """,
    # 4: the audit trail (who did what to which call; never pruned) and the calls under a
    # legal hold (their recordings are exempt from retention).
    """
    CREATE TABLE audit (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         REAL NOT NULL,   -- wall time of the action
        actor_kind TEXT NOT NULL,   -- api | cli | dtmf | system
        actor_name TEXT NOT NULL,
        action     TEXT NOT NULL,   -- dotted: pci.pause, recording.deleted, ...
        call_id    TEXT,
        detail     TEXT NOT NULL    -- JSON object
    );
    CREATE INDEX audit_call ON audit (call_id);
    CREATE INDEX audit_at ON audit (at);
    CREATE TABLE legal_holds (
        call_id TEXT PRIMARY KEY,
        set_at  REAL NOT NULL,
        set_by  TEXT NOT NULL,      -- the actor, kind:name
        reason  TEXT NOT NULL
    );
    """,
    # 5: API tokens with roles (only a hash of each secret) and browser sessions (edgeqa.auth).
    """
    CREATE TABLE tokens (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        name       TEXT NOT NULL,
        role       TEXT NOT NULL,   -- admin | supervisor | agent | feed | metrics
        scope      TEXT NOT NULL,   -- JSON: {"queues": [...], "teams": [...], "agent": ...}
        hash       TEXT NOT NULL UNIQUE,  -- hex sha256 of the secret
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE TABLE sessions (
        hash       TEXT PRIMARY KEY,  -- hex sha256 of the cookie's secret
        token_id   INTEGER NOT NULL REFERENCES tokens (id),
        csrf       TEXT NOT NULL,     -- hex sha256 of the session's CSRF token
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX sessions_token ON sessions (token_id);
    """,
    # 6: the audit trail becomes a hash chain: source (where the request came from),
    # prev_hash and hash (edgeqa.audit.chain); existing rows are chained in id order; UPDATE
    # and DELETE on audit are refused by triggers (edgeqa.audit.db.migrate_chain).
    migrate_chain,
    # 7: the caller history of the FastAGI route (issue 13): one row per ended call of a known
    # caller number, kept by edgeqa.route.history.project (a projection the daemon gives the
    # store), read by (caller, ended_at) ranges only.
    """
    CREATE TABLE caller_history (
        call_id     TEXT PRIMARY KEY,
        caller      TEXT NOT NULL,   -- the customer's caller number, normalised (route.model)
        ended_at    REAL NOT NULL,   -- wall time
        agent       TEXT,            -- the agent interface that took the call (PJSIP/agent1)
        agent_name  TEXT,
        queue       TEXT,
        dead_air_s  REAL,            -- total dead air of the call's summary (NULL: no summary)
        talk_over_s REAL,            -- total talk-over of the call's summary
        partial     INTEGER NOT NULL DEFAULT 0,  -- the summary did not hear the whole call
        good        INTEGER          -- 1: heard whole, no dead_air/talk_over alert (NULL: none)
    );
    CREATE INDEX caller_history_caller ON caller_history (caller, ended_at);
    """,
    # 8: issue 13's hints: every queue penalty or pause the daemon made, with what the member
    # had before and the hint's expiry (edgeqa.hints.db); restore reads the active ones.
    """
    CREATE TABLE hints (
        id         TEXT PRIMARY KEY,
        interface  TEXT NOT NULL,   -- the queue member (PJSIP/agent1)
        queue      TEXT NOT NULL,
        state      TEXT NOT NULL,   -- active | expired | cleared | dropped | failed
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        data       TEXT NOT NULL    -- JSON: edgeqa.hints.model.Hint.to_dict()
    );
    CREATE INDEX hints_state ON hints (state);
    CREATE INDEX hints_interface ON hints (interface, created_at);
    """,
)


class SchemaTooNewError(Exception):
    """The database was written by a newer edgeqa (user_version beyond our migrations)."""


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations to ``conn`` in order; return the resulting schema version."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise SchemaTooNewError(
            f"database schema version {version} is newer than this edgeqa ({len(MIGRATIONS)})"
        )
    for number in range(version + 1, len(MIGRATIONS) + 1):
        log.info("store: applying migration %d", number)
        conn.execute("BEGIN IMMEDIATE")
        try:
            step = MIGRATIONS[number - 1]
            if callable(step):
                step(conn)
            for statement in step.split(";") if isinstance(step, str) else ():
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number:d}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return len(MIGRATIONS)
