"""Store: WAL, migrations, durable increasing seq, batching, back-pressure, projections."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from edgeqa.store import MIGRATIONS, Event, SchemaTooNewError, Store, StoreClosedError

TIMEOUT_S = 10.0


def ev(i: int, type_: str = "queue.updated", **data: object) -> Event:
    return Event(type_, 1000.0 + i, {"i": i, **data})


async def test_append_assigns_increasing_seq_and_reads_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        first = await store.append([ev(1), ev(2)])
        second = await store.append([ev(3)])
        assert [e.seq for e in first + second] == [1, 2, 3]
        assert await store.last_seq() == 3
        back = await store.read_after(1, 10)
        assert [e.seq for e in back] == [2, 3]
        assert back[0].data == {"i": 2}
        assert back[0].schema == "queue.updated.v1"
        assert json.loads(back[1].envelope_json()) == back[1].envelope()
    finally:
        await store.close()


async def test_wal_mode_synchronous_and_user_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", synchronous="full")
    await store.open()
    await store.append([ev(1)])
    await store.close()
    conn = sqlite3.connect(tmp_path / "s.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        conn.close()


async def test_seq_survives_restart_and_is_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store(path)
    await store.open()
    await store.append([ev(i) for i in range(5)])
    await store.close()
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM events WHERE seq >= 4")  # e.g. retention pruning
    conn.commit()
    conn.close()
    store = Store(path)
    await store.open()
    try:
        assert await store.last_seq() == 5
        (new,) = await store.append([ev(9)])
        assert new.seq == 6
    finally:
        await store.close()


async def test_concurrent_appends_are_batched_and_ordered(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", batch_max_events=64, synchronous="normal")
    await store.open()
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(store.append([ev(i), ev(i)]) for i in range(200))), TIMEOUT_S
        )
        seqs = [e.seq for r in results for e in r]
        assert sorted(seqs) == list(range(1, 401))
        for r in results:  # each request's events are contiguous
            assert r[1].seq == r[0].seq + 1
        assert store.stats.transactions < 200
        assert store.stats.largest_batch_events <= 64 + 2
        assert store.stats.events_written == 400
    finally:
        await store.close()


async def test_back_pressure_bounds_queued_requests(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", writer_queue_max_requests=2, synchronous="normal")
    await store.open()
    try:
        tasks = [asyncio.create_task(store.append([ev(i)])) for i in range(20)]
        await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT_S)
        assert store.stats.waits_for_room > 0
        assert await store.last_seq() == 20
    finally:
        await store.close()


async def test_projection_tracks_open_calls(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        await store.append([
            ev(1, "call.started", call={"call_id": "c1"}),
            ev(2, "call.started", call={"call_id": "c2", "state": "queued"}),
            ev(3, "leg.added", call_id="c1", leg="customer",
               channel={"call_id": "c1", "uniqueid": "u1"}),
            ev(4, "call.ended", call={"call_id": "c1"}),
            # Metric events name a call but are not its state: the row keeps the call.
            ev(5, "call.talk_over", call_id="c2", leg="customer"),
            ev(6, "leg.sample", call_id="c2", leg="agent"),
        ])
        open_calls = await store.open_calls()
        assert [c["id"] for c in open_calls] == ["c2"]
        assert open_calls[0]["last_seq"] == 2
        assert open_calls[0]["data"]["call"]["state"] == "queued"
    finally:
        await store.close()


async def test_projection_keeps_each_channel_at_its_latest_state(tmp_path: Path) -> None:
    """leg.* v2 carry the channel under "channel" ("leg" is its role string)."""
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        stored = await store.append([
            ev(1, "leg.added", call_id="c1", leg="agent",
               channel={"call_id": "c1", "uniqueid": "u1", "state": "ring"}),
            ev(2, "leg.updated", call_id="c1", leg="agent",
               channel={"call_id": "c1", "uniqueid": "u1", "state": "up"}),
            ev(3, "leg.sample", call_id="c1", leg="agent", rms_dbov=-30.0),
        ])
        assert [e.schema for e in stored[:2]] == ["leg.added.v2", "leg.updated.v2"]
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        rows = conn.execute("SELECT id, call_id, data, last_seq FROM legs").fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [("u1", "c1", 2)]
    assert json.loads(rows[0][2])["channel"]["state"] == "up"


async def test_bad_payload_fails_only_its_request(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        with pytest.raises(ValueError):
            await store.append([Event("x.bad", 1.0, {"v": float("nan")})])
        (ok,) = await store.append([ev(1)])
        assert ok.seq == 1  # the failed transaction was rolled back and its seq not consumed
    finally:
        await store.close()


async def test_closed_store_refuses_and_close_is_idempotent(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    with pytest.raises(StoreClosedError):
        await store.append([ev(1)])
    await store.open()
    await store.close()
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.append([ev(1)])


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    store = Store(path)
    with pytest.raises(SchemaTooNewError):
        await store.open()


async def test_retention_keeps_the_newest_events_and_open_calls(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", synchronous="normal", retention_max_events=100)
    await store.open()
    try:
        await store.append([ev(0, "call.started", call={"call_id": "open"}),
                            ev(1, "call.started", call={"call_id": "done"}),
                            ev(2, "call.ended", call={"call_id": "done"})])
        for i in range(0, 1100, 50):
            await store.append([ev(i + j) for j in range(50)])
        assert store.stats.events_pruned > 0
        last = await store.last_seq()
        kept = await store.read_after(0, 10_000)
        assert kept[0].seq > 3 and kept[-1].seq == last
        assert len(kept) >= 100
        assert [c["id"] for c in await store.open_calls()] == ["open"]
    finally:
        await store.close()
