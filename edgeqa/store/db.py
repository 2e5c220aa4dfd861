"""Synchronous SQLite operations; only the store's writer thread calls these."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeqa.audit import db as audit_db
from edgeqa.audit.model import AuditEntry
from edgeqa.runtime.private import create_private_file, make_private_dirs
from edgeqa.store.records import Checkpoint, Event, EventLike, StoredEvent, schema_name
from edgeqa.store.schema import migrate

#: How long a statement waits for another process's lock (e.g. `sqlite3` CLI) before failing.
BUSY_TIMEOUT_MS = 5000
#: Event types after which a call's checkpoint is of no more use: its final word is stored.
FINAL_METRIC_TYPES = ("call.summary", "call.metrics_unavailable")
#: The recordings table's columns that a recording.* payload carries (schemas/recording.*).
RECORDING_COLUMNS = ("call_id", "leg", "path", "started_at", "ended_at", "codec", "size",
                     "sha256", "state", "reason", "queue", "agent")
#: The recording.* events that carry one leg's row (recording.disk_low carries none).
RECORDING_ROW_TYPES = ("recording.started", "recording.completed", "recording.failed",
                       "recording.deleted")


def open_db(path: Path, synchronous: str) -> sqlite3.Connection:
    """Open ``path`` in WAL mode with ``synchronous`` (full|normal) and migrate it.

    A new store is created 0600 in directories created 0700; SQLite gives its -wal and -shm
    files the database file's mode."""
    make_private_dirs(path.parent)
    create_private_file(path)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=True)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"cannot enable WAL on {path} (journal_mode={mode})")
        level = {"full": "FULL", "normal": "NORMAL"}[synchronous]
        conn.execute(f"PRAGMA synchronous = {level}")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _call_id(data: Mapping[str, Any]) -> str | None:
    for key in ("call_id", "id"):
        value = data.get(key)
        if isinstance(value, str):
            return value
    call = data.get("call")
    if isinstance(call, Mapping):
        for key in ("call_id", "id"):
            if isinstance(call.get(key), str):
                return str(call[key])
    return None


def _channel(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The channel object a leg.* event carries (v2 ``channel``; v1 had it under ``leg``)."""
    for key in ("channel", "leg"):
        value = data.get(key)
        if isinstance(value, Mapping):
            return value
    return None


def _channel_id(channel: Mapping[str, Any]) -> str | None:
    value = channel.get("uniqueid")
    return value if isinstance(value, str) else None


def _project(conn: sqlite3.Connection, seq: int, event: EventLike, text: str) -> None:
    """Keep the calls/legs tables at the latest state carried by call.* and leg.* events.

    A call's final metric event (FINAL_METRIC_TYPES) deletes its checkpoint, in the same
    transaction.

    Only events that carry the whole object (``data["call"]`` / ``data["channel"]``) replace a
    row; metric events (call.talk_over, leg.sample, ...) name a call but are not its state.
    The ``legs`` table holds one row per channel (keyed by its uniqueid).
    """
    data = event.data
    if event.type in RECORDING_ROW_TYPES:
        cols = ", ".join(RECORDING_COLUMNS)
        marks = ", ".join("?" for _ in RECORDING_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in RECORDING_COLUMNS[2:])
        conn.execute(
            f"INSERT INTO recordings ({cols}, last_seq) VALUES ({marks}, ?)"
            f" ON CONFLICT(call_id, leg) DO UPDATE SET {updates}, last_seq = excluded.last_seq",
            (*(data.get(c) for c in RECORDING_COLUMNS), seq))
        return
    if event.type in FINAL_METRIC_TYPES:
        call_id = _call_id(data)
        if call_id is not None:  # committed with the summary: the checkpoint is used up
            conn.execute("DELETE FROM checkpoints WHERE call_id = ?", (call_id,))
        return
    if event.type.startswith("call.") and isinstance(data.get("call"), Mapping):
        call_id = _call_id(data)
        if call_id is None:
            return
        ended = event.at if event.type == "call.ended" else None
        conn.execute(
            "INSERT INTO calls (id, started_at, ended_at, data, last_seq) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET data = excluded.data, last_seq = excluded.last_seq,"
            " ended_at = COALESCE(excluded.ended_at, calls.ended_at)",
            (call_id, event.at, ended, text, seq),
        )
    elif event.type.startswith("leg.") and (channel := _channel(data)) is not None:
        leg_id = _channel_id(channel)
        if leg_id is None:
            return
        conn.execute(
            "INSERT INTO legs (id, call_id, data, last_seq) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET data = excluded.data, last_seq = excluded.last_seq,"
            " call_id = COALESCE(excluded.call_id, legs.call_id)",
            (leg_id, _call_id(data), text, seq),
        )


#: One encoder for every payload (json.dumps with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def encode(event: EventLike) -> tuple[EventLike, str]:
    """Return ``event`` with its payload as JSON text; raise ValueError/TypeError if not JSON."""
    return event, _ENCODER.encode(event.data)


#: A capability's own table kept from events, in the same transaction (``conn``, type, at, data).
Projection = Callable[[sqlite3.Connection, str, float, Mapping[str, Any]], None]


def insert_events(
    conn: sqlite3.Connection, events: Sequence[tuple[EventLike, str]],
    projections: Sequence[Projection] = (),
) -> list[StoredEvent]:
    """Insert encoded ``events`` (inside the caller's transaction); return them with their seq.
    Each of ``projections`` sees every event after the store's own projection."""
    out: list[StoredEvent] = []
    for event, text in events:
        schema = schema_name(event.type)
        cur = conn.execute(
            "INSERT INTO events (type, at, schema, data) VALUES (?, ?, ?, ?)",
            (event.type, float(event.at), schema, text),
        )
        seq = cur.lastrowid
        assert seq is not None
        _project(conn, seq, event, text)
        for project in projections:
            project(conn, event.type, float(event.at), event.data)
        out.append(StoredEvent(seq, event.type, float(event.at), schema, text))
    return out


def read_after(conn: sqlite3.Connection, after: int, limit: int) -> list[StoredEvent]:
    """Return up to ``limit`` committed events with seq > ``after``, in seq order."""
    rows = conn.execute(
        "SELECT seq, type, at, schema, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        (after, limit),
    ).fetchall()
    return [StoredEvent(int(r[0]), r[1], float(r[2]), r[3], r[4]) for r in rows]


def last_seq(conn: sqlite3.Connection) -> int:
    """Return the highest seq ever assigned (0 for a new store), even if rows were pruned."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row else 0


def call_holds(conn: sqlite3.Connection, call_id: str) -> list[tuple[float, float]]:
    """The hold intervals (wall time) of a stored call's customer and agent channels, as its
    latest call.* event has them; an interval still open ends at the call's end (or never)."""
    row = conn.execute("SELECT ended_at, data FROM calls WHERE id = ?", (call_id,)).fetchone()
    if row is None:
        return []
    ended_at, data = row[0], json.loads(row[1])
    call = data.get("call", data)
    spans = []
    for channel in call.get("channels", []):
        if channel.get("role") not in ("customer", "agent"):
            continue
        for hold in channel.get("holds", []):
            end = hold.get("end")
            if end is None:
                end = ended_at if ended_at is not None else float("inf")
            spans.append((float(hold["start"]), float(end)))
    return spans


def open_calls(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Return the latest stored state of every call that has no call.ended yet."""
    rows = conn.execute(
        "SELECT id, started_at, data, last_seq FROM calls WHERE ended_at IS NULL ORDER BY id"
    ).fetchall()
    return [{"id": r[0], "started_at": r[1], "data": json.loads(r[2]), "last_seq": r[3]}
            for r in rows]


def latest_by_call(conn: sqlite3.Connection, event_type: str) -> dict[str, Any]:
    """Return the payload of the newest ``event_type`` event per call the store holds open.

    ``events`` has no index on type, so this scans it: it is skipped when no call is open
    (the usual start-up), and only open calls' payloads are decoded.
    """
    open_ids = {r[0] for r in conn.execute("SELECT id FROM calls WHERE ended_at IS NULL")}
    out: dict[str, Any] = {}
    if not open_ids:
        return out
    for (text,) in conn.execute("SELECT data FROM events WHERE type = ? ORDER BY seq",
                                (event_type,)):
        data = json.loads(text)
        if isinstance(data, dict) and data.get("call_id") in open_ids:
            out[data["call_id"]] = data
    return out


def put_checkpoint(conn: sqlite3.Connection, cp: Checkpoint, max_rows: int) -> bool:
    """Upsert the checkpoint of ``cp.call_id``; return False if it was not written.

    Not written: the stored call has ended (its summary is, or was, on its way: a checkpoint
    would only outlive it), or the stored checkpoint covers more. Then the oldest rows beyond
    ``max_rows`` are deleted, so the table stays bounded.
    """
    return put_checkpoints(conn, [cp], max_rows)[0]


def put_checkpoints(conn: sqlite3.Connection, cps: Sequence[Checkpoint],
                    max_rows: int) -> list[bool]:
    """put_checkpoint of each of ``cps`` in order, in one transaction; whether each was
    written."""
    texts = [json.dumps(cp.summary, separators=(",", ":"), allow_nan=False) for cp in cps]
    written: list[bool] = []
    with _transaction(conn):
        for cp, text in zip(cps, texts, strict=True):
            cur = conn.execute(
                "INSERT INTO checkpoints (call_id, started_at, covered_to_s, summary, at)"
                " SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS"
                " (SELECT 1 FROM calls WHERE id = ? AND ended_at IS NOT NULL)"
                " ON CONFLICT(call_id) DO UPDATE SET started_at = excluded.started_at,"
                " covered_to_s = excluded.covered_to_s, summary = excluded.summary,"
                " at = excluded.at WHERE excluded.covered_to_s >= checkpoints.covered_to_s",
                (cp.call_id, cp.started_at, cp.covered_to_s, text, cp.at, cp.call_id))
            written.append(cur.rowcount > 0)
        conn.execute("DELETE FROM checkpoints WHERE call_id IN (SELECT call_id FROM checkpoints"
                     " ORDER BY at DESC LIMIT -1 OFFSET ?)", (max_rows,))
    return written


def checkpoints(conn: sqlite3.Connection) -> dict[str, Checkpoint]:
    """Return the stored checkpoint of every call that has one."""
    rows = conn.execute(
        "SELECT call_id, started_at, covered_to_s, summary, at FROM checkpoints").fetchall()
    return {r[0]: Checkpoint(r[0], float(r[1]), float(r[2]), json.loads(r[3]), float(r[4]))
            for r in rows}


def prune_checkpoints(conn: sqlite3.Connection) -> int:
    """Delete the checkpoints of calls the store does not hold open (ended, or unknown)."""
    return int(conn.execute(
        "DELETE FROM checkpoints WHERE call_id NOT IN"
        " (SELECT id FROM calls WHERE ended_at IS NULL)").rowcount)


def prune(conn: sqlite3.Connection, keep_events: int) -> int:
    """Delete all but the newest ``keep_events`` events (and ended calls older than them)."""
    cutoff = last_seq(conn) - keep_events
    if cutoff <= 0:
        return 0
    with _transaction(conn):
        deleted = conn.execute("DELETE FROM events WHERE seq <= ?", (cutoff,)).rowcount
        conn.execute("DELETE FROM calls WHERE ended_at IS NOT NULL AND last_seq <= ?", (cutoff,))
        conn.execute("DELETE FROM legs WHERE last_seq <= ? AND call_id NOT IN "
                     "(SELECT id FROM calls)", (cutoff,))
    return int(deleted)


def recordings(conn: sqlite3.Connection, *, call_id: str | None = None,
               state: str | None = None, agent: str | None = None, queue: str | None = None,
               since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """Return the recordings rows matching every filter given, oldest first.

    ``agent`` matches the stored agent (its member name, else its interface); ``since`` and
    ``until`` bound the start (wall time, ``until`` excluded).
    """
    where: list[str] = []
    args: list[str | float] = []
    for column, value in (("call_id", call_id), ("state", state), ("agent", agent),
                          ("queue", queue)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    _within(where, args, "started_at", since, until)
    cols = ", ".join(RECORDING_COLUMNS)
    sql = f"SELECT {cols} FROM recordings"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.execute(sql + " ORDER BY started_at, call_id, leg", args).fetchall()
    return [dict(zip(RECORDING_COLUMNS, row, strict=True)) for row in rows]


def finished_calls(conn: sqlite3.Connection, call_ids: Collection[str],
                   since: float) -> set[str]:
    """Which of ``call_ids`` have a final metric event (FINAL_METRIC_TYPES) at or after wall
    time ``since``. Scans the events backwards (no index on type) down to ``since``."""
    found: set[str] = set()
    if not call_ids:
        return found
    marks = ", ".join("?" for _ in FINAL_METRIC_TYPES)
    for at, text in conn.execute(f"SELECT at, data FROM events WHERE type IN ({marks})"
                                 " ORDER BY seq DESC", FINAL_METRIC_TYPES):
        if at < since:
            break
        call_id = json.loads(text).get("call_id")
        if call_id in call_ids:
            found.add(call_id)
    return found


def retention_candidates(conn: sqlite3.Connection, *, until: float,
                         after: tuple[float, str, str] | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` closed rows (complete, missing, corrupt) started before ``until`` whose
    call is not on legal hold, ordered by (started_at, call_id, leg) after the key ``after``."""
    where = ["state IN ('complete', 'missing', 'corrupt')", "started_at < ?",
             "call_id NOT IN (SELECT call_id FROM legal_holds)"]
    args: list[str | float | int] = [until]
    if after is not None:
        where.append("(started_at, call_id, leg) > (?, ?, ?)")
        args += list(after)
    rows = conn.execute(
        f"SELECT {', '.join(RECORDING_COLUMNS)} FROM recordings WHERE {' AND '.join(where)}"
        " ORDER BY started_at, call_id, leg LIMIT ?", [*args, limit]).fetchall()
    return [dict(zip(RECORDING_COLUMNS, row, strict=True)) for row in rows]


#: The legal_holds table's columns, as legal_holds() returns them.
LEGAL_HOLD_COLUMNS = ("call_id", "set_at", "set_by", "reason")


def set_legal_hold(conn: sqlite3.Connection, call_id: str, at: float, by: str,
                   reason: str) -> bool:
    """Put ``call_id`` on legal hold (its own transaction); False if it already was (the
    first hold is kept, with its time, actor and reason)."""
    with _transaction(conn):
        cur = conn.execute("INSERT INTO legal_holds (call_id, set_at, set_by, reason) "
                           "VALUES (?, ?, ?, ?) ON CONFLICT(call_id) DO NOTHING",
                           (call_id, at, by, reason))
    return cur.rowcount > 0


def clear_legal_hold(conn: sqlite3.Connection, call_id: str) -> bool:
    """Take ``call_id`` off legal hold (its own transaction); False if it was not on hold."""
    with _transaction(conn):
        cur = conn.execute("DELETE FROM legal_holds WHERE call_id = ?", (call_id,))
    return cur.rowcount > 0


def legal_holds(conn: sqlite3.Connection, call_id: str | None = None) -> dict[str, dict[str, Any]]:
    """The legal holds (of ``call_id`` only, if given), by call id."""
    sql = f"SELECT {', '.join(LEGAL_HOLD_COLUMNS)} FROM legal_holds"
    rows = (conn.execute(sql + " WHERE call_id = ?", (call_id,)) if call_id is not None
            else conn.execute(sql)).fetchall()
    return {r[0]: dict(zip(LEGAL_HOLD_COLUMNS, r, strict=True)) for r in rows}


#: The audit table's columns as audit() returns them (``detail`` decoded).
AUDIT_COLUMNS = ("id", "at", "actor_kind", "actor_name", "action", "call_id", "detail", "source",
                 "prev_hash", "hash")
#: Entries audit() returns at most per call (a reader pages with ``after_id``).
AUDIT_PAGE_MAX_ROWS = 10_000


def put_audit(conn: sqlite3.Connection, entry: AuditEntry) -> tuple[int, StoredEvent]:
    """Commit ``entry`` in its own transaction, linked to the chain (edgeqa.audit.chain), with
    its ``audit.entry`` event on the event log; return its id (increasing, never reused) and
    the stored event."""
    detail = json.dumps(dict(entry.detail), separators=(",", ":"), sort_keys=True,
                        allow_nan=False)
    fields = {"at": float(entry.at), "actor_kind": entry.actor.kind,
              "actor_name": entry.actor.name, "action": entry.action, "call_id": entry.call_id,
              "source": entry.source, "detail": detail}
    with _transaction(conn):
        row = audit_db.insert_chained(conn, fields)
        payload = audit_db.event_payload(row)
        (stored,) = insert_events(conn, [encode(Event(audit_db.AUDIT_EVENT_TYPE, entry.at,
                                                      payload))])
    return int(row["id"]), stored


def audit(conn: sqlite3.Connection, *, call_id: str | None = None, action: str | None = None,
          since: float | None = None, until: float | None = None, after_id: int = 0,
          limit: int = AUDIT_PAGE_MAX_ROWS) -> list[dict[str, Any]]:
    """Return audit entries matching every filter given, oldest first, at most ``limit``.

    ``action`` matches exactly, or a prefix when it ends with ``.`` (``pci.``); ``since`` and
    ``until`` bound ``at`` (wall time, ``until`` excluded).
    """
    where = ["id > ?"]
    args: list[str | float | int] = [after_id]
    if call_id is not None:
        where.append("call_id = ?")
        args.append(call_id)
    if action is not None:
        if action.endswith("."):
            where.append("substr(action, 1, ?) = ?")
            args += [len(action), action]
        else:
            where.append("action = ?")
            args.append(action)
    _within(where, args, "at", since, until)
    rows = conn.execute(
        f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit WHERE {' AND '.join(where)} "
        "ORDER BY id LIMIT ?", [*args, min(max(limit, 0), AUDIT_PAGE_MAX_ROWS)]).fetchall()
    out = []
    for row in rows:
        entry = dict(zip(AUDIT_COLUMNS, row, strict=True))
        entry["detail"] = json.loads(entry["detail"])
        out.append(entry)
    return out


def _within(where: list[str], args: list[Any], column: str, since: float | None,
            until: float | None) -> None:
    """Add ``since <= column < until`` (either bound optional) to a WHERE being built."""
    if since is not None:
        where.append(f"{column} >= ?")
        args.append(since)
    if until is not None:
        where.append(f"{column} < ?")
        args.append(until)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed if the block ends, rolled back if it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
