"""The caller history (store migration 7, table ``caller_history``): one row per ended call of
a known caller number, kept in the transaction that commits the call's ``call.ended`` and
``call.summary`` (project(): a projection the daemon gives its Store), read by the route with
one range scan of the (caller, ended_at) index, of bounded length (lookup()).

Synchronous SQLite functions: project() runs on the store's writer thread, lookup() on the
route's own read connection (HistoryReader), never behind the writer's queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from edgeqa.route.config import MAX_HISTORY_ROWS, MAX_WINDOW_H
from edgeqa.route.model import PastCall, normalise_caller

log = logging.getLogger(__name__)

#: The event types project() keeps rows from.
HISTORY_TYPES = ("call.ended", "call.summary")
#: Threads (each with its own read connection) that serve lookups.
READER_THREADS = 2
_COLUMNS = "call_id, ended_at, agent, queue, dead_air_s, talk_over_s, partial, good"


def _customer_number(call: Mapping[str, Any]) -> str | None:
    for channel in call.get("channels") or ():
        if isinstance(channel, Mapping) and channel.get("role") == "customer":
            return normalise_caller(channel.get("caller_id_num"))
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _figures(summary: Mapping[str, Any]) -> tuple[float, float, bool, bool]:
    """(dead air s, talk-over s, partial, good) of an edgeqa.call_summary."""
    dead = sum(float(d.get("duration_s") or 0.0) for d in summary.get("dead_air") or ()
               if isinstance(d, Mapping))
    over = sum(float(t.get("duration_s") or 0.0) for t in summary.get("talk_over") or ()
               if isinstance(t, Mapping))
    partial = bool(summary.get("partial"))
    alerts = [a for a in summary.get("alerts") or () if isinstance(a, Mapping)
              and a.get("type") in ("dead_air", "talk_over")]
    return round(dead, 3), round(over, 3), partial, not partial and not alerts


def _from_call(conn: sqlite3.Connection, call: Mapping[str, Any], at: float) -> None:
    call_id, caller = _text(call.get("call_id")), _customer_number(call)
    if call_id is None or caller is None:
        return
    ended = call.get("ended_at")
    ended_at = float(ended) if isinstance(ended, (int, float)) else at
    conn.execute(
        "INSERT INTO caller_history (call_id, caller, ended_at, agent, agent_name, queue)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(call_id) DO UPDATE SET caller = excluded.caller,"
        " ended_at = excluded.ended_at, agent = excluded.agent,"
        " agent_name = excluded.agent_name, queue = excluded.queue",
        (call_id, caller, ended_at, _text(call.get("agent_interface")),
         _text(call.get("agent_name")), _text(call.get("queue"))))
    # Bounded per caller, through the same index: older than any rule looks, or beyond the
    # most a decision reads.
    conn.execute("DELETE FROM caller_history WHERE caller = ? AND (ended_at < ? OR call_id IN"
                 " (SELECT call_id FROM caller_history WHERE caller = ?"
                 " ORDER BY ended_at DESC LIMIT -1 OFFSET ?))",
                 (caller, ended_at - MAX_WINDOW_H * 3600.0, caller, MAX_HISTORY_ROWS))


def project(conn: sqlite3.Connection, event_type: str, at: float,
            data: Mapping[str, Any]) -> None:
    """Keep the caller history at ``call.ended`` (the row) and ``call.summary`` (its figures);
    inside the store's transaction. A summary that comes before its call's end takes the call
    from the calls table (its latest state). A payload it cannot read is logged and skipped:
    it never fails the store's transaction."""
    if event_type not in HISTORY_TYPES:
        return
    try:
        _project(conn, event_type, at, data)
    except (ValueError, TypeError, AttributeError) as exc:
        log.warning("route: %s not kept in the caller history: %s", event_type, exc)


def _project(conn: sqlite3.Connection, event_type: str, at: float,
             data: Mapping[str, Any]) -> None:
    if event_type == "call.ended":
        call = data.get("call")
        if isinstance(call, Mapping):
            _from_call(conn, call, at)
        return
    summary, call_id = data.get("summary"), _text(data.get("call_id"))
    if event_type != "call.summary" or not isinstance(summary, Mapping) or call_id is None:
        return
    figures = (*_figures(summary), call_id)
    update = ("UPDATE caller_history SET dead_air_s = ?, talk_over_s = ?, partial = ?, good = ?"
              " WHERE call_id = ?")
    if conn.execute(update, figures).rowcount:
        return
    row = conn.execute("SELECT data FROM calls WHERE id = ?", (call_id,)).fetchone()
    if row is None:
        return
    stored = json.loads(row[0])
    call = stored.get("call") if isinstance(stored, Mapping) else None
    if isinstance(call, Mapping):
        _from_call(conn, call, at)
        conn.execute(update, figures)


def lookup(conn: sqlite3.Connection, caller: str, since: float, limit: int) -> list[PastCall]:
    """The caller's calls that ended at or after ``since``, newest first, at most ``limit``:
    one range of the (caller, ended_at) index, never more than ``limit`` rows."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM caller_history WHERE caller = ? AND ended_at >= ?"
        " ORDER BY ended_at DESC LIMIT ?", (caller, since, limit)).fetchall()
    return [PastCall(str(r[0]), float(r[1]), r[2], r[3], r[4], r[5], bool(r[6]),
                     None if r[7] is None else bool(r[7])) for r in rows]


class HistoryReader:
    """Lookups on the store's database through connections of its own (WAL: readers never wait
    for the writer), on READER_THREADS threads: a burst of writes queued on the store's writer
    thread does not delay them."""

    def __init__(self, path: Path, threads: int = READER_THREADS) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="edgeqa-route-read")
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                   check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA query_only = 1")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _lookup(self, caller: str, since: float, limit: int) -> list[PastCall]:
        return lookup(self._conn(), caller, since, limit)

    async def lookup(self, caller: str, since: float, limit: int) -> list[PastCall]:
        """lookup() on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._lookup, caller, since, limit)

    def close(self) -> None:
        """Stop the threads (after the lookups in flight) and close the connections."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
