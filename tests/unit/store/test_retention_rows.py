"""The store's side of retention: legal holds, candidate rows, recording.deleted projected, and
recording.disk_low (no row) stored without touching the recordings table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest_asyncio

from edgeqa.recording.events import Recording, deleted_event, event_for
from edgeqa.store import Event, Store

T0 = 1733012345.0


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "s.db", synchronous="normal")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def _rec(call_id: str, leg: str = "customer", state: str = "complete",
         at: float = T0) -> Recording:
    return Recording.from_row({"call_id": call_id, "leg": leg, "path": f"/r/{call_id}-{leg}",
                               "started_at": at, "state": state, "queue": "q"})


async def test_legal_holds_set_once_cleared_once(store: Store) -> None:
    assert await store.set_legal_hold("c1", T0, "cli:alice", "case 1")
    assert not await store.set_legal_hold("c1", T0 + 1, "api:anonymous", "again")
    assert await store.legal_holds() == {"c1": {"call_id": "c1", "set_at": T0,
                                                "set_by": "cli:alice", "reason": "case 1"}}
    assert await store.legal_holds("c2") == {}
    assert await store.clear_legal_hold("c1")
    assert not await store.clear_legal_hold("c1")
    assert await store.legal_holds() == {}


async def test_candidates_are_closed_rows_not_on_legal_hold_paged_in_order(
        store: Store) -> None:
    await store.append([event_for(r, T0) for r in (
        _rec("a"), _rec("a", "agent"), _rec("b", state="missing", at=T0 + 1),
        _rec("c", state="recording"), _rec("d", state="corrupt", at=T0 + 2),
        _rec("e", at=T0 + 100), _rec("held"))])
    await store.append([deleted_event(replace(_rec("z", at=T0 - 1), state="deleted",
                                              reason="retention"), T0 + 5)])
    await store.set_legal_hold("held", T0, "cli:alice", "case")
    keys = []
    after = None
    while page := await store.retention_candidates(until=T0 + 50, after=after, limit=2):
        keys += [(r["call_id"], r["leg"]) for r in page]
        after = (page[-1]["started_at"], page[-1]["call_id"], page[-1]["leg"])
    assert keys == [("a", "agent"), ("a", "customer"), ("b", "customer"), ("d", "customer")]


async def test_recording_deleted_updates_the_row_and_disk_low_adds_none(store: Store) -> None:
    rec = _rec("a")
    await store.append([event_for(rec, T0)])
    await store.append([Event("recording.disk_low", T0 + 1, {
        "state": "low", "severity": "alert", "free_bytes": 1, "threshold_bytes": 2,
        "path": "/r"}), deleted_event(replace(rec, state="deleted", reason="why"), T0 + 2)])
    rows = await store.recordings()
    assert [(r["call_id"], r["state"], r["reason"]) for r in rows] == [("a", "deleted", "why")]
    stored = await store.read_after(0, 10)
    assert [e.type for e in stored] == ["recording.completed", "recording.disk_low",
                                        "recording.deleted"]
    assert stored[2].data["deleted_at"] == T0 + 2
    await asyncio.sleep(0)
