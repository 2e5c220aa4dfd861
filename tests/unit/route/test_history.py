"""The caller history: kept by the store's projection from call.ended and call.summary (in the
events' transaction), read by one range of its index, and read beside a busy writer."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from edgeqa.route import history
from edgeqa.route.history import HistoryReader, lookup
from edgeqa.route.model import PastCall
from edgeqa.store import Event, Store

T0 = 1_800_000_000.0


def call(call_id: str, caller: str, at: float,
         agent: str | None = "PJSIP/agent1") -> dict[str, Any]:
    return {"call_id": call_id, "queue": "support", "agent_interface": agent,
            "agent_name": "Agent One" if agent else None, "ended_at": at,
            "channels": [{"role": "agent", "caller_id_num": "2001"},
                         {"role": "customer", "caller_id_num": caller}]}


def summary(call_id: str, dead: float = 0.0, over: float = 0.0, partial: bool = False,
            alerts: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"call_id": call_id, "leg": None, "started_at": T0, "source": "live",
            "partial": partial,
            "summary": {"partial": partial,
                        "dead_air": [{"start": 1.0, "end": 1.0 + dead, "duration_s": dead}],
                        "talk_over": [{"start": 2.0, "end": 2.0 + over, "duration_s": over}],
                        "alerts": [{"type": a} for a in alerts]}}


async def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "edgeqa.db", projections=(history.project,))
    await store.open()
    return store


async def _rows(store: Store, caller: str) -> list[PastCall]:
    return await store.run(lambda c: lookup(c, caller, 0.0, 100))


async def test_ended_calls_and_their_summaries_are_kept(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        await store.append([Event("call.ended", T0, {"call": call("a", "555 1001", T0)}),
                            Event("call.summary", T0 + 1, summary("a", dead=3.0, over=1.5))])
        await store.append([Event("call.ended", T0 + 10, {"call": call("b", "5551001", T0 + 10)}),
                            Event("call.summary", T0 + 11, summary("b", dead=12.0,
                                                                   alerts=("dead_air",)))])
        await store.append([Event("call.ended", T0, {"call": call("c", "anonymous", T0)}),
                            Event("call.ended", T0, {"call": call("d", "5552000", T0, None)})])
        rows = await _rows(store, "5551001")
        assert [(r.call_id, r.dead_air_s, r.talk_over_s, r.good) for r in rows] == [
            ("b", 12.0, 0.0, False), ("a", 3.0, 1.5, True)]
        assert rows[0].agent == "PJSIP/agent1" and rows[0].queue == "support"
        (d,) = await _rows(store, "5552000")
        assert (d.agent, d.dead_air_s, d.good) == (None, None, None)  # no summary (yet)
        assert await store.run(lambda c: c.execute(
            "SELECT count(*) FROM caller_history").fetchone()[0]) == 3  # "anonymous": none
    finally:
        await store.close()


async def test_each_caller_keeps_a_bounded_history(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "MAX_HISTORY_ROWS", 3)
    store = await _store(tmp_path)
    try:
        old = T0 - history.MAX_WINDOW_H * 3600.0 - 1
        await store.append([Event("call.ended", old, {"call": call("old", "5551001", old)})])
        await store.append([Event("call.ended", T0 + i, {"call": call(f"n{i}", "5551001",
                                                                      T0 + i)})
                            for i in range(5)])
        await store.append([Event("call.ended", T0, {"call": call("o", "5552000", T0)})])
        assert [r.call_id for r in await _rows(store, "5551001")] == ["n4", "n3", "n2"]
        assert [r.call_id for r in await _rows(store, "5552000")] == ["o"]
    finally:
        await store.close()


async def test_a_summary_before_the_end_takes_the_call_from_the_calls_table(
        tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        await store.append([Event("call.updated", T0, {"call": {**call("a", "5551001", T0),
                                                                "ended_at": None}}),
                            Event("call.summary", T0 + 5, summary("a", over=6.0, partial=True))])
        (row,) = await _rows(store, "5551001")
        assert (row.ended_at, row.talk_over_s, row.partial, row.good) == (T0 + 5, 6.0, True,
                                                                            False)
        await store.append([Event("call.ended", T0 + 6, {"call": call("a", "5551001",
                                                                      T0 + 6)})])
        (row,) = await _rows(store, "5551001")
        assert (row.ended_at, row.talk_over_s) == (T0 + 6, 6.0)  # the figures stay
    finally:
        await store.close()


async def test_an_unreadable_payload_never_fails_the_events_transaction(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = await _store(tmp_path)
    try:
        bad = summary("a")
        bad["summary"]["dead_air"] = [{"duration_s": "long"}]
        stored = await store.append([Event("call.ended", T0, {"call": call("a", "1", T0)}),
                                     Event("call.summary", T0, bad)])
        assert len(stored) == 2
        assert "not kept in the caller history" in caplog.text
    finally:
        await store.close()


def test_a_lookup_reads_one_index_range_of_bounded_length(tmp_path: Path) -> None:
    from edgeqa.store.db import open_db
    conn = open_db(tmp_path / "edgeqa.db", "normal")
    try:
        conn.executemany("INSERT INTO caller_history (call_id, caller, ended_at) VALUES (?,?,?)",
                         ((f"c{i}", f"{i % 50}", T0 + i) for i in range(5000)))
        plan = " ".join(str(r[-1]) for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT call_id, ended_at, agent, queue, dead_air_s, "
            "talk_over_s, partial, good FROM caller_history WHERE caller = ? AND "
            "ended_at >= ? ORDER BY ended_at DESC LIMIT ?", ("7", 0.0, 10)))
        assert "USING INDEX caller_history_caller (caller=? AND ended_at>?)" in plan, plan
        assert "TEMP B-TREE" not in plan  # no sort: the index order is the answer's
        rows = lookup(conn, "7", T0 + 1000, 10)
        assert len(rows) == 10 and rows[0].ended_at > rows[-1].ended_at >= T0 + 1000
    finally:
        conn.close()


async def test_lookups_do_not_wait_behind_the_writer(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    reader = HistoryReader(store.path)
    held, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        held.set()
        release.wait(10.0)

    try:
        await store.append([Event("call.ended", T0, {"call": call("a", "5551001", T0)})])
        busy = asyncio.create_task(store.run(hold))  # the writer thread is stuck in this
        burst = asyncio.create_task(store.append(
            [Event("call.ended", T0 + i, {"call": call(f"x{i}", "5552", T0 + i)})
             for i in range(1, 200)]))
        await asyncio.to_thread(held.wait, 5.0)
        rows = await asyncio.wait_for(reader.lookup("5551001", 0.0, 10), 5.0)
        assert [r.call_id for r in rows] == ["a"]
        assert not busy.done() and not burst.done()  # the writer was held all along
        release.set()
        await busy
        await burst
    finally:
        release.set()
        await asyncio.to_thread(reader.close)
        await store.close()
