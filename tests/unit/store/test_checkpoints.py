"""Checkpoints: one durable row per call still up, gone with its summary, and bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeqa.store import Checkpoint, Event, Store
from edgeqa.store import writer as store_writer


def cp(call_id: str, covered_to_s: float, at: float = 1000.0) -> Checkpoint:
    summary: dict[str, Any] = {"schema": "edgeqa.call_summary/2", "duration_s": covered_to_s}
    return Checkpoint(call_id, 500.0, covered_to_s, summary, at)


def call(type_: str, call_id: str) -> Event:
    return Event(type_, 1000.0, {"call": {"call_id": call_id}})


async def test_one_row_per_call_the_latest_that_covers_most(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        await store.append([call("call.started", "c1")])
        assert await store.put_checkpoint(cp("c1", 5.0))
        assert await store.put_checkpoint(cp("c1", 10.0, at=1005.0))
        assert not await store.put_checkpoint(cp("c1", 7.0, at=1010.0))  # late, covers less
        assert await store.put_checkpoint(cp("c2", 3.0))
        got = await store.checkpoints()
        assert got["c1"] == cp("c1", 10.0, at=1005.0) and set(got) == {"c1", "c2"}
    finally:
        await store.close()
    store = Store(tmp_path / "s.db")  # durable: the next run reads it
    await store.open()
    try:
        assert (await store.checkpoints())["c1"].covered_to_s == 10.0
    finally:
        await store.close()


@pytest.mark.parametrize("final", ["call.summary", "call.metrics_unavailable"])
async def test_the_final_metric_event_deletes_the_checkpoint(tmp_path: Path,
                                                             final: str) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        await store.append([call("call.started", "c1"), call("call.started", "c2")])
        await store.put_checkpoint(cp("c1", 5.0))
        await store.put_checkpoint(cp("c2", 5.0))
        await store.append([call("call.ended", "c1"),
                            Event(final, 1010.0, {"call_id": "c1", "leg": None})])
        assert set(await store.checkpoints()) == {"c2"}
        # The call ended in the store: a checkpoint that comes late is not kept.
        assert not await store.put_checkpoint(cp("c1", 9.0))
        assert set(await store.checkpoints()) == {"c2"}
    finally:
        await store.close()


async def test_retention_prunes_checkpoints_of_calls_not_open(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    try:
        await store.append([call("call.started", c) for c in ("up", "killed")])
        for c in ("up", "killed", "never-stored"):
            await store.put_checkpoint(cp(c, 5.0))
        # The run that tapped "killed" died before its summary; the call ended later.
        await store.append([call("call.ended", "killed")])
        for i in range(0, store_writer.PRUNE_EVERY_EVENTS, 100):
            await store.append([Event("queue.updated", 1000.0, {"i": i + j}) for j in range(100)])
        assert set(await store.checkpoints()) == {"up"}
    finally:
        await store.close()


async def test_the_table_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_writer, "CHECKPOINTS_MAX_ROWS", 3)
    store = Store(tmp_path / "s.db", synchronous="normal")
    await store.open()
    try:
        for i in range(5):
            assert await store.put_checkpoint(cp(f"c{i}", 5.0, at=1000.0 + i))
        assert set(await store.checkpoints()) == {"c2", "c3", "c4"}  # the oldest went first
    finally:
        await store.close()


async def test_latest_by_call_is_the_newest_payload_of_each_open_call(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        assert await store.latest_by_call("call.metrics_suspended") == {}
        await store.append([call("call.started", "c1"), call("call.started", "c2")])
        await store.append([Event("call.metrics_suspended", 1000.0 + i,
                                  {"call_id": call_id, "n": i})
                            for i, call_id in enumerate(("c1", "c2", "c1"))])
        await store.append([call("call.ended", "c2")])
        got = await store.latest_by_call("call.metrics_suspended")
        assert got == {"c1": {"call_id": "c1", "n": 2}}  # c2 ended: its payload is not read
    finally:
        await store.close()


async def test_many_checkpoints_in_one_transaction_each_judged_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        await store.append([call("call.started", "c1"), call("call.started", "c2")])
        assert await store.put_checkpoints([]) == []
        written = await store.put_checkpoints(
            [cp("c1", 5.0), cp("c1", 3.0, at=1001.0), cp("c2", 4.0)])
        assert written == [True, False, True]  # the second covers less than the first
        got = await store.checkpoints()
        assert got["c1"] == cp("c1", 5.0) and got["c2"] == cp("c2", 4.0)
    finally:
        await store.close()
