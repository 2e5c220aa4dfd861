"""Summaries from recordings, the adapter: the legs' analysis, the live events routed through
the gate, the analyses run in the TaskGroup, the recorder's closed rows, and the restart path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from edgeqa.analyze.offline import CallAudio, run_call
from edgeqa.calls.changes import CallConnected, CallEnded
from edgeqa.config import parse_config
from edgeqa.live.events import summary_event, unavailable
from edgeqa.recording import summarizer
from edgeqa.recording.events import Recording, event_for
from edgeqa.recording.service import Recorder
from edgeqa.recording.stereo import ExportError
from edgeqa.recording.summarizer import Summarizer, analyse_legs
from edgeqa.store import Event, EventLike, Store
from tests.support.calls import connected_call
from tests.support.summaries import summary_of
from tests.unit.recording.calls import AGENT, CUSTOMER, T0, leg_rows, store_rows
from tests.unit.recording.wavs import closed_wav

CALL = "1733012345.7"


def _expected(paused: Sequence[tuple[float, float]] = ()) -> dict[str, Any]:
    """The legs of tests.unit.recording.calls, aligned by their starts (agent 80 frames on)."""
    return run_call(CallAudio(CUSTOMER, bytes(160) + AGENT, 8000, "pcm16"), paused=paused)


def test_the_legs_are_analysed_aligned_by_their_starts(tmp_path: Path) -> None:
    assert analyse_legs(CALL, leg_rows(tmp_path)) == _expected()


def test_paused_spans_are_applied_as_analyze_does(tmp_path: Path) -> None:
    rows = leg_rows(tmp_path)
    got = analyse_legs(CALL, rows, paused=[(0.02, 0.06)])
    assert got["paused"] == [{"start": 0.02, "end": 0.06}] and got["paused_s"] == 0.04
    assert got == _expected(paused=[(0.02, 0.06)])


def test_a_leg_changed_on_disk_is_refused(tmp_path: Path) -> None:
    rows = leg_rows(tmp_path)
    Path(rows[1].path).write_bytes(closed_wav(900))
    with pytest.raises(ExportError, match="the file changed since it was recorded"):
        analyse_legs(CALL, rows)


class Harness:
    """A Summarizer whose submit is a list; ``recorded`` is what the recorder holds."""

    def __init__(self, *, live_enabled: bool = True) -> None:
        self.out: list[EventLike] = []
        self.recorded: set[str] = set()
        self.clock = T0 + 30
        self.s = Summarizer(self.out.extend, self.recorded.__contains__,
                            live_enabled=live_enabled, wall=lambda: self.clock)

    def finals(self) -> list[tuple[str, Any]]:
        return [(e.type, e.data.get("source")) for e in self.out
                if e.type in ("call.summary", "call.metrics_unavailable")]


async def _settle(h: Harness) -> None:
    for _ in range(200):
        await asyncio.sleep(0.01)
        if not h.s.gate.pending and not h.s.health()["queued"]:
            return


def _partial() -> Event:
    return summary_event(CALL, T0 + 5, T0, summary_of(5.0, partial=True), "live")


async def test_a_partial_live_summary_becomes_the_recording_s(tmp_path: Path) -> None:
    h = Harness()
    sample = Event("leg.sample", T0 + 1, {"call_id": CALL, "leg": "customer"})
    async with asyncio.TaskGroup() as tg:
        h.s.bind(tg)
        h.recorded.add(CALL)
        h.s.submit_live([sample, _partial()])
        assert h.out == [sample]  # the rest of the batch goes on at once
        await asyncio.sleep(0)
        assert h.out == [sample] and h.s.gate.pending == 1  # held
        h.s.on_closed(CALL, leg_rows(tmp_path))
        await _settle(h)
        await h.s.close()
    assert h.finals() == [("call.summary", "recording")]
    assert h.out[-1].data["summary"] == _expected()


async def test_a_refusal_before_the_recorder_saw_the_call_is_held_too(tmp_path: Path) -> None:
    h = Harness()
    async with asyncio.TaskGroup() as tg:
        h.s.bind(tg)
        # [live] max_calls refuses at the connect, before the recorder took the call.
        h.s.submit_live([unavailable(CALL, T0, "2 calls already tapped ([live] max_calls)")])
        h.recorded.add(CALL)
        await asyncio.sleep(0)
        assert h.out == [] and h.s.gate.pending == 1
        h.s.on_closed(CALL, leg_rows(tmp_path))
        await _settle(h)
        await h.s.close()
    assert h.finals() == [("call.summary", "recording")]


async def test_without_live_metrics_a_recorded_call_is_analysed_once_closed(
        tmp_path: Path) -> None:
    h = Harness(live_enabled=False)
    async with asyncio.TaskGroup() as tg:
        h.s.bind(tg)
        h.s.on_closed(CALL, leg_rows(tmp_path))
        await _settle(h)
        await h.s.close()
    assert h.finals() == [("call.summary", "recording")]
    assert h.s.health()["from_recording"] == 1


async def test_a_full_queue_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summarizer, "MAX_QUEUED_ANALYSES", 1)
    h = Harness(live_enabled=False)
    h.s.on_closed("a.1", leg_rows(tmp_path, "a.1"))  # not bound: it waits in the queue
    h.s.on_closed("b.2", leg_rows(tmp_path, "b.2"))
    assert [(e.type, e.data["call_id"]) for e in h.out] == [("call.metrics_unavailable", "b.2")]
    assert "1 analyses already queued" in h.out[0].data["reason"]


class _Ami:
    async def send_action(self, action: str, headers: Mapping[str, str] = {}, *,
                          timeout_s: float = 10.0) -> Any:
        return {"Response": "Success"}


async def test_the_recorder_tells_each_call_s_closed_rows(tmp_path: Path) -> None:
    cfg = parse_config(f'[recording]\nasterisk_dir = "/ast"\ndaemon_dir = "{tmp_path}"\n'
                       'close_timeout_s = 0.5\n',
                       env={"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}).recording
    closed: list[tuple[str, list[tuple[str, str]], bool]] = []
    calls = {"c.1": connected_call("c.1")}
    rec: Recorder

    def on_closed(call_id: str, rows: Sequence[Recording]) -> None:
        closed.append((call_id, sorted((r.leg, r.state) for r in rows), rec.records(call_id)))

    rec = Recorder(cfg, _Ami(), lambda _e: None, lambda: calls, wall=lambda: T0 + 30,
                   on_closed=on_closed)
    async with asyncio.TaskGroup() as tg:
        rec.bind(tg)
        rec.on_changes([CallConnected("c.1", T0, T0, "u-cust", "u-agent")], T0)
        await asyncio.sleep(0)
        assert rec.records("c.1")
        day = tmp_path / "2024/12/01"
        day.mkdir(parents=True)
        (day / "c.1-customer.wav").write_bytes(closed_wav())
        rec.on_changes([CallEnded("c.1", T0 + 9)], T0 + 9)
    assert closed == [("c.1", [("agent", "missing"), ("customer", "complete")], True)]
    assert not rec.records("c.1")


async def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "s.db")
    await store.open()
    return store


async def test_a_restart_sums_up_what_the_stopped_run_held(tmp_path: Path) -> None:
    """Closed rows with no final event are analysed again; a call with its final event, or
    still open, is not; rows left recording of an ended call await no live outcome."""
    store = await _store(tmp_path)
    try:
        for call_id in ("held.1", "done.2", "open.3"):
            await store_rows(store, leg_rows(tmp_path, call_id))
        left = [r for c in ("ended.4", "done.5", "up.6")
                for r in leg_rows(tmp_path, c, states=("recording", "recording"))]
        await store_rows(store, left)
        await store.append([summary_event("done.2", T0 + 6, T0, {"partial": False}, "live"),
                            unavailable("done.5", T0 + 6, "refused")])
        h = Harness()
        h.clock = T0 + 60
        await h.s.restore_from(store, ["open.3", "up.6"])
    finally:
        await store.close()
    async with asyncio.TaskGroup() as tg:
        h.s.bind(tg)
        await _settle(h)
        assert [e.data["call_id"] for e in h.out] == ["held.1"]
        for call_id in ("ended.4", "done.5", "up.6"):  # the recorder closes them
            h.s.on_closed(call_id, leg_rows(tmp_path, call_id))
        await _settle(h)
        assert h.s.gate.pending == 1  # up.6 awaits its live outcome
        await h.s.close()
    assert [(e.data["call_id"], e.data["source"]) for e in h.out] == [
        ("held.1", "recording"), ("ended.4", "recording")]


async def test_finished_calls_are_those_with_a_final_event_since(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        await store.append([unavailable("a", T0, "x"),
                            event_for(leg_rows(tmp_path, "b")[0], T0 + 1),
                            summary_event("c", T0 + 2, T0, {}, "live"),
                            Event("call.metrics_suspended", T0 + 3, {"call_id": "d"})])
        assert await store.finished_calls({"a", "b", "c", "d"}, T0) == {"a", "c"}
        assert await store.finished_calls({"a", "b", "c", "d"}, T0 + 1) == {"c"}
        assert await store.finished_calls(set(), T0) == set()
    finally:
        await store.close()


async def test_a_restart_sums_up_the_newest_calls_within_the_queue_s_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summarizer, "MAX_QUEUED_ANALYSES", 1)
    old, new = leg_rows(tmp_path, "old.1"), leg_rows(tmp_path, "new.2")
    new = [replace(r, started_at=r.started_at + 60) for r in new]
    h = Harness()
    h.s.restore([], [], set(), [*(r.to_dict() for r in old), *(r.to_dict() for r in new)])
    assert h.out == []  # one queued, none refused
    async with asyncio.TaskGroup() as tg:
        h.s.bind(tg)
        await _settle(h)
        await h.s.close()
    assert [e.data["call_id"] for e in h.out] == ["new.2"]


async def test_the_analysis_gets_the_pause_and_hold_spans_as_seconds_of_the_recording(
        tmp_path: Path) -> None:
    got: list[Any] = []

    def analyse(call_id: str, rows: Sequence[Recording], paused: Any,
                holds: Any) -> Mapping[str, Any]:
        got.append((call_id, list(paused), list(holds)))
        return {"partial": False}

    async def paused(call_id: str) -> list[tuple[float, float]]:
        return [(T0 + 1.0, T0 + 3.5)]

    async def holds(call_id: str) -> list[tuple[float, float]]:
        return [(T0 - 2.0, T0 + 0.5), (T0 + 4.0, float("inf"))]

    out: list[EventLike] = []
    s = Summarizer(out.extend, lambda _c: False, live_enabled=False, wall=lambda: T0 + 30,
                   paused=paused, holds=holds, analyse=analyse)
    async with asyncio.TaskGroup() as tg:
        s.bind(tg)
        s.on_closed(CALL, leg_rows(tmp_path))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if out:
                break
        await s.close()
    # The customer's file starts at T0; the rows end at T0 + 5.
    assert got == [(CALL, [(1.0, 3.5)], [(0.0, 0.5), (4.0, 5.0)])]
    assert [e.data["source"] for e in out] == ["recording"]


