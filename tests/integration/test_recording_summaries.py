"""Metrics from the recordings (issue 8 part 3) on the real sandbox, the phones playing the
talk_over fixture's legs.

- `edgeqa analyze` on a call's two recorded legs meets the fixture's truth (docs/metrics.md,
  Tolerances), once the recording's time is aligned with the phones' playback; the daemon's
  own call.summary (source "recording": [live] is off) is that same analysis.
- A daemon SIGKILLed mid-call: the call (hung up after the restart, or while no daemon ran)
  gets exactly one call.summary, from its recording, covering the whole call.
- A run that died while it held a call (its rows closed, its summary not yet out) leaves the
  store so; the next run sums the call up from its recording.

Run (from the repository):
EDGEQA_SANDBOX_PORT_BASE=18000 .venv/bin/pytest -q tests/integration/test_recording_summaries.py
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import Envelope, StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.support.daemon import EVENT_TIMEOUT_S, call_in_state, is_type, make_daemon
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.live import (
    BOUNDARY_TOL_S,
    assert_close,
    complete,
    of_call,
    stored_checkpoints,
    stored_envelopes,
)
from tests.support.recordings import best_correlation, envelope

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]
log = logging.getLogger(__name__)

FIXTURE = "talk_over"
#: Long enough for two of the fixture's three talk-overs (15.4 s and 25.05 s) to be complete.
TALK_S = 28.0
#: The daemon is killed this far into the talk, and stays down this long: the first talk-over
#: (15.4-16.5 s) happens while no daemon runs.
KILL_AT_S = 12.0
DOWN_S = 6.0
#: After the hang-up: Asterisk closes the files, the rows are closed, the legs analysed.
SUMMARY_TIMEOUT_S = 60.0
#: Absolute active level against the fixture leg's own (docs/metrics.md, Tolerances).
LEVEL_TOL_DB = 1.5
#: A recorded leg correlates with the leg its phone played at least this well.
OWN_MIN = 0.6


def _rows(db: Path, call_id: str) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return {r["leg"]: dict(r) for r in conn.execute(
            "SELECT * FROM recordings WHERE call_id = ?", (call_id,))}
    finally:
        conn.close()


def _analyze(customer: Path, agent: Path) -> dict[str, Any]:
    """`edgeqa analyze --json` on two leg files, as a user runs it."""
    done = subprocess.run([sys.executable, "-m", "edgeqa", "analyze", "--customer",
                           str(customer), "--agent", str(agent), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _lags(rows: dict[str, dict[str, Any]], calls_dir: Path) -> dict[str, float]:
    """Per leg: the fixture time at the recording's time 0 (cross-correlating the recorded leg
    with the fixture leg its phone played)."""
    lags = {}
    for leg, row in rows.items():
        r, lag = best_correlation(envelope(Path(row["path"])),
                                  envelope(calls_dir / f"{FIXTURE}.{leg}.wav"))
        log.info("%s leg: r=%.3f, the recording starts at fixture time %+.2f s", leg, r, lag)
        assert r >= OWN_MIN, (leg, r)
        lags[leg] = lag
    return lags


def _meets_truth(summary: dict[str, Any], lags: dict[str, float], calls_dir: Path) -> None:
    """``summary`` (of the recorded legs) against the fixture's truth, shifted by ``lags``."""
    truth = json.loads((calls_dir / f"{FIXTURE}.truth.json").read_text())
    end_s = summary["duration_s"]
    assert end_s >= TALK_S - 3.0, end_s
    for leg in ("customer", "agent"):
        shift = lags[leg]
        # Segments the recording holds whole (it may start a moment into the fixture).
        want = complete([[s - shift, e - shift] for s, e in truth["speech"][leg]
                         if s - shift >= 0.0], end_s)
        got = [seg for seg in complete(summary["legs"][leg]["speech_segments"], end_s)
               if seg[0] >= want[0][0] - BOUNDARY_TOL_S]
        log.info("%s segments %s, truth %s", leg, got, want)
        assert_close(got, want, f"{leg} segments/truth")
    shift = (lags["customer"] + lags["agent"]) / 2
    want_over = complete([(e["start"] - shift, e["end"] - shift, e["interrupter"])
                          for e in truth["talk_over"]], end_s)
    got_over = complete([(e["start"], e["end"], e["interrupter"])
                         for e in summary["talk_over"]], end_s)
    log.info("talk_over %s, truth %s", got_over, want_over)
    assert len(want_over) == 2
    assert_close(got_over, want_over, "talk_over/truth")
    assert [e[2] for e in got_over] == [e[2] for e in want_over]
    assert summary["dead_air"] == [] == truth["dead_air"]


def _levels_match(summary: dict[str, Any], calls_dir: Path) -> None:
    """Each recorded leg's active level is its fixture leg's (P.56 of the played file)."""
    played = _analyze(calls_dir / f"{FIXTURE}.customer.wav", calls_dir / f"{FIXTURE}.agent.wav")
    for leg in ("customer", "agent"):
        got, want = (s["legs"][leg]["active_level_dbov"] for s in (summary, played))
        log.info("%s active level %.2f dBov, played %.2f dBov", leg, got, want)
        assert abs(got - want) <= LEVEL_TOL_DB, (leg, got, want)


def _summary_of(call_id: str) -> Callable[[Envelope], bool]:
    return lambda e: e["type"] == "call.summary" and e["data"]["call_id"] == call_id


async def test_analyze_on_the_recorded_legs_meets_the_fixture_truth(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc = make_daemon(running_sandbox, tmp_path, live=False)
    calls_dir = data_dir / "calls"
    proc.start()
    phones = FixtureCall(running_sandbox, calls_dir, tmp_path / "call", fixture=FIXTURE)
    try:
        await blocking(proc.wait_ready)
        col = collect(proc.api_url)
        await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        await blocking(phones.start)
        talk_started = time.time()
        connected = await col.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
        call_id = connected["data"]["call"]["call_id"]
        await col.wait_for(is_type("recording.started"), EVENT_TIMEOUT_S)
        await asyncio.sleep(TALK_S - (time.time() - talk_started))
        await blocking(phones.finish)
        streamed = await col.wait_for(_summary_of(call_id), SUMMARY_TIMEOUT_S)
        await asyncio.sleep(1.0)  # a second summary would come now
    finally:
        await blocking(phones.close)
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    rows = _rows(tmp_path / "d" / "edgeqa.db", call_id)
    assert {leg: r["state"] for leg, r in rows.items()} == {"customer": "complete",
                                                             "agent": "complete"}
    analysed = await blocking(_analyze, Path(rows["customer"]["path"]),
                              Path(rows["agent"]["path"]))
    lags = await blocking(_lags, rows, calls_dir)
    _meets_truth(analysed, lags, calls_dir)
    await blocking(_levels_match, analysed, calls_dir)
    # The daemon's summary of the call ([live] off): the same analysis, from the recording.
    assert [e["seq"] for e in col.events if _summary_of(call_id)(e)] == [streamed["seq"]]
    data = streamed["data"]
    assert data["source"] == "recording" and data["partial"] is False
    assert data["started_at"] == pytest.approx(rows["customer"]["started_at"])
    assert data["summary"] == analysed
    # The store as a run leaves it when it dies holding the call: rows closed, no summary.
    db = tmp_path / "d" / "edgeqa.db"
    await blocking(_drop_event, db, streamed["seq"])
    proc.start()
    try:
        await blocking(proc.wait_ready)
        again = await collect(proc.api_url, after=streamed["seq"]).wait_for(
            _summary_of(call_id), SUMMARY_TIMEOUT_S)
        await asyncio.sleep(1.0)
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    final = of_call(await blocking(stored_envelopes, db), call_id, "call.summary",
                    "call.metrics_unavailable")
    assert [e["seq"] for e in final] == [again["seq"]]
    assert again["data"] == data


def _drop_event(db: Path, seq: int) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute("DELETE FROM events WHERE seq = ?", (seq,))
    finally:
        conn.close()


async def _restart(proc: DaemonProcess, collect: Callable[..., StreamCollector],
                   after: int) -> StreamCollector:
    proc.start()
    await blocking(proc.wait_ready)
    col = collect(proc.api_url, after=after)
    await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
    return col


@pytest.mark.parametrize("hang_up", ["after the restart", "while the daemon is down"])
async def test_a_call_whose_daemon_was_killed_gets_its_summary_from_the_recording(
        hang_up: str, running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    proc = make_daemon(running_sandbox, tmp_path)
    calls_dir = data_dir / "calls"
    proc.start()
    phones = FixtureCall(running_sandbox, calls_dir, tmp_path / "call", fixture=FIXTURE)
    try:
        await blocking(proc.wait_ready)
        first = collect(proc.api_url)
        await first.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        await blocking(phones.start)
        talk_started = time.time()
        connected = await first.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
        call_id = connected["data"]["call"]["call_id"]
        await first.wait_for(is_type("recording.started"), EVENT_TIMEOUT_S)
        await first.wait_for(lambda e: e["type"] == "leg.sample", EVENT_TIMEOUT_S)
        await asyncio.sleep(KILL_AT_S - (time.time() - talk_started))
        await blocking(proc.kill)
        await asyncio.sleep(DOWN_S)
        if hang_up == "after the restart":
            second = await _restart(proc, collect, first.last_seq)
            await asyncio.sleep(TALK_S - (time.time() - talk_started))
            hung_up_at = time.time()
            await blocking(phones.finish)
        else:
            await asyncio.sleep(TALK_S - (time.time() - talk_started))
            hung_up_at = time.time()
            await blocking(phones.finish)
            second = await _restart(proc, collect, first.last_seq)
        await second.wait_for(_summary_of(call_id), SUMMARY_TIMEOUT_S)
        await asyncio.sleep(2.0)  # a second final event would come now
        health = proc.get("/v1/health")
    finally:
        await blocking(phones.close)
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    db = tmp_path / "d" / "edgeqa.db"
    mine = of_call(await blocking(stored_envelopes, db), call_id)
    final = of_call(mine, call_id, "call.summary", "call.metrics_unavailable")
    log.info("%s: final events %s; summaries health %s", hang_up,
             [(e["type"], e["data"].get("source")) for e in final], health["summaries"])
    # Exactly one final event for the call: its summary, from the recording.
    assert [e["type"] for e in final] == ["call.summary"]
    data = final[0]["data"]
    assert data["source"] == "recording" and data["partial"] is False
    summary = data["summary"]
    assert summary["gaps"] == [] and summary["covered_s"] == pytest.approx(
        summary["duration_s"], abs=0.05)
    assert health["summaries"]["from_recording"] == 1
    assert call_id not in await blocking(stored_checkpoints, db)  # used up by the summary
    # It covers the whole call: from the recording's start to the hang-up.
    rows = _rows(db, call_id)
    assert len(of_call(mine, call_id, "call.ended")) == 1
    assert data["started_at"] == pytest.approx(rows["customer"]["started_at"])
    recorded_s = hung_up_at - data["started_at"]
    log.info("summary duration %.2f s, recorded %.2f s (hang-up - recording start)",
             summary["duration_s"], recorded_s)
    assert summary["duration_s"] == pytest.approx(recorded_s, abs=1.0)
    # It is `edgeqa analyze` of the recorded legs, and it meets the fixture's truth, the
    # talk-over made while no daemon ran included.
    analysed = await blocking(_analyze, Path(rows["customer"]["path"]),
                              Path(rows["agent"]["path"]))
    assert summary == analysed
    _meets_truth(summary, await blocking(_lags, rows, calls_dir), calls_dir)


async def test_an_unusable_recording_leaves_the_partial_live_summary(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    """SIGKILL mid-call, and the agent's file is gone: the live summary (partial, from the
    checkpoint and the re-tap) is the call's one final event, nothing is lost."""
    proc = make_daemon(running_sandbox, tmp_path)
    db = tmp_path / "d" / "edgeqa.db"
    proc.start()
    phones = FixtureCall(running_sandbox, data_dir / "calls", tmp_path / "call",
                         fixture=FIXTURE)
    try:
        await blocking(proc.wait_ready)
        first = collect(proc.api_url)
        await first.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        await blocking(phones.start)
        connected = await first.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
        call_id = connected["data"]["call"]["call_id"]
        await first.wait_for(lambda e: e["type"] == "leg.sample" and e["data"]["t_s"] >= 7.0,
                             EVENT_TIMEOUT_S + 7.0)
        await blocking(proc.kill)
        await blocking(_unlink, db, call_id, "agent")  # Asterisk writes on, to no file
        second = await _restart(proc, collect, first.last_seq)
        await second.wait_for(lambda e: e["type"] == "leg.sample" and e["seq"] > first.last_seq,
                              EVENT_TIMEOUT_S)
        await asyncio.sleep(4.0)
        await blocking(phones.finish)
        await second.wait_for(_summary_of(call_id), SUMMARY_TIMEOUT_S)
        await asyncio.sleep(2.0)
        health = proc.get("/v1/health")
    finally:
        await blocking(phones.close)
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    final = of_call(await blocking(stored_envelopes, db), call_id, "call.summary",
                    "call.metrics_unavailable")
    assert [e["type"] for e in final] == ["call.summary"]
    data = final[0]["data"]
    log.info("final %s partial=%s gaps=%s; summaries %s", data["source"], data["partial"],
             data["summary"]["gaps"], health["summaries"])
    assert data["source"] == "live" and data["partial"] is True
    assert [g["reason"] for g in data["summary"]["gaps"]] == ["daemon_restart"]
    assert health["summaries"]["fallbacks"] == 1
    assert _rows(db, call_id)["agent"]["state"] == "missing"


def _unlink(db: Path, call_id: str, leg: str) -> None:
    Path(_rows(db, call_id)[leg]["path"]).unlink()
