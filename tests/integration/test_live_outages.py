"""Restarts and outages on the real sandbox: live metrics say what they cover, never lie.

- The daemon restarted mid-call (SIGTERM, SIGKILL): the call keeps its answer time, the re-tapped
  audio continues the call's timeline, one call.summary covers both runs, with the gap. After
  SIGKILL the first run's part is its last periodic checkpoint (the store's checkpoints table),
  at most [live] checkpoint_interval_s old.
- The call ends while no daemon runs: one partial call.summary, from the call.metrics_suspended
  (SIGTERM) or the last periodic checkpoint (SIGKILL).
- Asterisk crashes mid-call for 8 s: no samples, no dead air over the outage, no longer call.
- SIGTERM during a silence: it is closed as truncated, not ended.

Run: EDGEQA_SANDBOX_PORT_BASE=18000 .venv/bin/pytest -q tests/integration/test_live_outages.py
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edgeqa.config import default_live
from edgeqa.metrics.config import MetricsConfig
from edgeqa.sandbox.demo.daemon_proc import DaemonProcess
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import Envelope, StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.support.daemon import EVENT_TIMEOUT_S, call_in_state, is_type, make_daemon
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.live import of_call, stored_checkpoints, stored_envelopes
from tests.support.schemas import envelope_errors

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]
log = logging.getLogger(__name__)

#: Seconds of the call each daemon run hears, and that no daemon runs.
HEARD_S = 6.0
DOWN_S = 4.0
#: The Asterisk outage.
OUTAGE_S = 8.0
#: How far a gap boundary may lie from the kill or restart that made it: the re-tap takes
#: a few hundred ms, and a sample second is 1 s.
TAP_SETUP_S = 3.0
#: A killed daemon loses at most this much of a call (its periodic checkpoints' interval),
#: plus a second of slack (the tap's setup, the tick, the store's write).
CHECKPOINT_S = default_live().checkpoint_interval_s


async def _connected_call(col: StreamCollector, box: Sandbox, data_dir: Path, out: Path,
                          fixture: str = "clean") -> tuple[FixtureCall, str, float]:
    """Place a fixture call; return it, its call_id and its answer time (wall)."""
    phones = FixtureCall(box, data_dir / "calls", out, fixture=fixture)
    await blocking(phones.start)
    connected = await col.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
    call = connected["data"]["call"]
    return phones, call["call_id"], float(call["answered_at"])


def _sample_at(call_id: str, min_t_s: float, after_seq: int = 0) -> Callable[[Envelope], bool]:
    return lambda e: (e["type"] == "leg.sample" and e["seq"] > after_seq
                      and e["data"]["call_id"] == call_id and e["data"]["t_s"] >= min_t_s)


def _summary_of(call_id: str) -> Callable[[Envelope], bool]:
    return lambda e: e["type"] == "call.summary" and e["data"]["call_id"] == call_id


def _valid(envelopes: list[dict[str, Any]]) -> None:
    bad = [(e["seq"], e["type"], found) for e in envelopes if (found := envelope_errors(e))]
    assert bad == [], bad[:5]


@dataclass(slots=True)
class Running:
    """A daemon of this test's own, its stream from seq 0, and one connected fixture call."""

    proc: DaemonProcess
    col: StreamCollector
    phones: FixtureCall
    call_id: str
    answered_at: float


@contextlib.asynccontextmanager
async def _daemon_with_call(box: Sandbox, data_dir: Path, tmp_path: Path,
                            collect: Callable[..., StreamCollector],
                            fixture: str = "clean",
                            heard_s: float | None = HEARD_S,
                            tap: str = "auto") -> AsyncIterator[Running]:
    """Start a daemon, place a call once it resynced, let the daemon hear ``heard_s`` of it;
    stop both afterwards (idempotent)."""
    proc = make_daemon(box, tmp_path, record=False,  # recorded: test_recording_summaries.py
                       tap=tap)
    proc.start()
    phones: FixtureCall | None = None
    try:
        await blocking(proc.wait_ready)
        col = collect(proc.api_url)
        await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        phones, call_id, answered_at = await _connected_call(col, box, data_dir,
                                                             tmp_path / "call", fixture)
        if heard_s is not None:
            await col.wait_for(_sample_at(call_id, heard_s), EVENT_TIMEOUT_S + heard_s)
        yield Running(proc, col, phones, call_id, answered_at)
    finally:
        if phones is not None:
            await blocking(phones.close)
        proc.stop()


async def _restart(proc: DaemonProcess, how: str) -> float:
    """Stop the daemon by ``how`` (SIGTERM or SIGKILL); return the wall time it was signalled."""
    at = time.time()
    if how == "SIGTERM":
        assert await blocking(proc.stop) == 0, proc.log()
    else:
        await blocking(proc.kill)
    return at


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_daemon_restarted_mid_call_keeps_one_timeline_and_one_summary(
        how: str, running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    async with _daemon_with_call(running_sandbox, data_dir, tmp_path, collect) as run:
        proc, first, call_id, answered_at = run.proc, run.col, run.call_id, run.answered_at
        stopped_at = await _restart(proc, how)
        # The first run's last event is the store's (a killed daemon may have stored events
        # its stream had not delivered yet).
        first_last = max(e["seq"] for e in await blocking(stored_envelopes,
                                                           tmp_path / "d" / "edgeqa.db"))
        await asyncio.sleep(DOWN_S)
        restarted_at = time.time()
        proc.start()
        await blocking(proc.wait_ready)
        second = collect(proc.api_url, after=first.last_seq)
        await second.wait_for(_sample_at(call_id, 0.0, after_seq=first.last_seq),
                              EVENT_TIMEOUT_S)
        await asyncio.sleep(HEARD_S)
        await blocking(run.phones.finish)
        await second.wait_for(_summary_of(call_id), EVENT_TIMEOUT_S)
        await asyncio.sleep(1.0)  # a second summary would come now
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    stored = await blocking(stored_envelopes, tmp_path / "d" / "edgeqa.db")
    _valid(stored)
    mine = of_call(stored, call_id)
    stop_t, restart_t = stopped_at - answered_at, restarted_at - answered_at
    summaries = [e for e in mine if e["type"] == "call.summary"]
    second_run = [e["data"]["t_s"] for e in mine
                  if e["type"] == "leg.sample" and e["seq"] > first_last]
    checkpoints = [e["data"] for e in mine if e["type"] == "call.metrics_suspended"]
    log.info("%s at %.2f s, restart at %.2f s; checkpoints %s; summaries %s; first re-tapped "
             "samples at %s", how, stop_t, restart_t, [c["t_s"] for c in checkpoints],
             [(e["seq"], e["data"]["summary"].get("gaps"), e["data"]["summary"].get("coverage"),
               e["data"]["summary"]["duration_s"]) for e in summaries], second_run[:4])
    # One summary per call, across both runs.
    assert len(summaries) == 1, [e["seq"] for e in summaries]
    # Re-tapped audio continues the call's time: t_s never restarts at 0.
    assert second_run and min(second_run) >= restart_t - 1.0, (restart_t, second_run[:4])
    (summary_env,) = summaries
    summary, (ended,) = summary_env["data"]["summary"], of_call(mine, call_id, "call.ended")
    # The call keeps its real answer time, and its real duration.
    assert summary_env["data"]["started_at"] == pytest.approx(answered_at, abs=0.01)
    real_s = ended["data"]["call"]["ended_at"] - answered_at
    assert summary["duration_s"] == pytest.approx(real_s, abs=0.5)
    # What the summary covers, and the gap with its reason.
    assert summary_env["data"]["partial"] is True and summary["partial"] is True
    (gap,) = summary["gaps"]
    assert gap["reason"] == "daemon_restart"
    if how == "SIGTERM":
        (checkpoint,) = checkpoints
        assert stop_t - 1.0 <= checkpoint["t_s"] <= stop_t + 0.5
        assert gap["start"] == pytest.approx(checkpoint["t_s"], abs=0.05)
        assert summary["coverage"][0][0] == pytest.approx(0.0, abs=0.05)
    else:
        assert checkpoints == []  # no stream event: the store's periodic checkpoint held it
        assert stop_t - CHECKPOINT_S - 1.0 <= gap["start"] <= stop_t, (stop_t, gap)
    # What the first run heard (up to its checkpoint) is in the one summary.
    assert summary["coverage"][0][0] == pytest.approx(0.0, abs=0.05)
    assert summary["coverage"][0][1] == pytest.approx(gap["start"], abs=0.05)
    assert restart_t <= gap["end"] <= restart_t + TAP_SETUP_S
    assert summary["coverage"][-1] == pytest.approx([gap["end"], summary["duration_s"]],
                                                    abs=0.05)
    assert summary["covered_s"] == pytest.approx(
        sum(e - s for s, e in summary["coverage"]), abs=0.05)
    # The tracker, too, keeps the answer time across the restart.
    assert ended["data"]["call"]["answered_at"] == pytest.approx(answered_at, abs=0.01)
    # The summary used up the call's stored checkpoint.
    assert call_id not in await blocking(stored_checkpoints, tmp_path / "d" / "edgeqa.db")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_call_ending_while_the_daemon_is_down_is_summed_up(
        how: str, running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    async with _daemon_with_call(running_sandbox, data_dir, tmp_path, collect) as run:
        proc, first, call_id, answered_at = run.proc, run.col, run.call_id, run.answered_at
        stopped_at = await _restart(proc, how)
        await blocking(run.phones.finish)
        proc.start()
        await blocking(proc.wait_ready)
        second = collect(proc.api_url, after=first.last_seq)
        await second.wait_for(
            lambda e: e["type"] in ("call.summary", "call.metrics_unavailable")
            and e["data"]["call_id"] == call_id, EVENT_TIMEOUT_S)
        await asyncio.sleep(1.0)
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    stored = await blocking(stored_envelopes, tmp_path / "d" / "edgeqa.db")
    _valid(stored)
    mine = of_call(stored, call_id)
    log.info("%s: after the restart %s", how,
             [e["type"] for e in mine if e["seq"] > first.last_seq])
    assert len(of_call(mine, call_id, "call.ended")) == 1
    final = of_call(mine, call_id, "call.summary", "call.metrics_unavailable")
    assert [e["type"] for e in final] == ["call.summary"]
    streamed = [e["data"] for e in mine if e["type"] == "call.metrics_suspended"]
    summary = final[0]["data"]["summary"]
    stop_t = stopped_at - answered_at
    log.info("%s at %.2f s; stream checkpoints %s; coverage %s; gaps %s; duration %.2f s",
             how, stop_t, [c["t_s"] for c in streamed], summary["coverage"], summary["gaps"],
             summary["duration_s"])
    assert final[0]["data"]["partial"] is True
    assert final[0]["data"]["started_at"] == pytest.approx(answered_at, abs=0.01)
    (gap,) = summary["gaps"]
    assert gap["reason"] == "daemon_restart"
    assert gap["end"] == pytest.approx(summary["duration_s"], abs=0.05)
    (covered,) = summary["coverage"]
    assert covered[0] == pytest.approx(0.0, abs=0.05)
    assert gap["start"] == pytest.approx(covered[1], abs=0.05)
    if how == "SIGTERM":
        (checkpoint,) = streamed
        assert covered[1] == pytest.approx(checkpoint["t_s"], abs=0.05)
    else:  # what the killed run heard, up to its last periodic checkpoint
        assert streamed == []
        assert stop_t - CHECKPOINT_S - 1.0 <= covered[1] <= stop_t, (stop_t, covered)
    assert summary["covered_s"] >= HEARD_S - CHECKPOINT_S
    assert call_id not in await blocking(stored_checkpoints, tmp_path / "d" / "edgeqa.db")


async def test_asterisk_crash_mid_call_is_a_gap_not_silence(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    async with _daemon_with_call(running_sandbox, data_dir, tmp_path, collect) as run:
        col, call_id, answered_at = run.col, run.call_id, run.answered_at
        crashed_at = time.time()
        await blocking(running_sandbox.kill)
        await asyncio.sleep(OUTAGE_S)
        await blocking(running_sandbox.start)
        up_at = time.time()
        summary_env = await col.wait_for(_summary_of(call_id), EVENT_TIMEOUT_S)
        await asyncio.sleep(1.0)
        status = await blocking(run.proc.stop)
    assert status == 0, run.proc.log()
    mine = [e for e in col.events if e["data"].get("call_id") == call_id]
    _valid(mine)
    crash_t = crashed_at - answered_at
    samples = [e["data"] for e in mine if e["type"] == "leg.sample"]
    late = [(s["t_s"], s["rms_dbov"]) for s in samples if s["t_s"] > crash_t + 0.1]
    alerts = [e["data"] for e in mine if e["type"] in ("call.dead_air", "call.alert")]
    summary = summary_env["data"]["summary"]
    log.info("crash at %.2f s, Asterisk up %.2f s later; last samples %s; alerts %s; "
             "duration %.2f s; gaps %s", crash_t, up_at - crashed_at,
             [(s["t_s"], s["rms_dbov"]) for s in samples[-4:]], alerts, summary["duration_s"],
             summary.get("gaps"))
    assert late == []  # no sample of the outage (the old daemon sent -120 dBov ones)
    assert [a for a in alerts if a.get("start_s", a.get("at_s", 0.0)) >= crash_t - 1.0] == []
    assert summary["dead_air"] == []
    assert summary["duration_s"] <= crash_t + 0.5  # the outage is not part of the call
    assert summary["duration_s"] >= crash_t - 1.0
    assert len([e for e in mine if e["type"] == "call.summary"]) == 1


async def test_sigterm_during_a_silence_closes_it_truncated(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    async with _daemon_with_call(running_sandbox, data_dir, tmp_path, collect,
                                 fixture="dead_air", heard_s=None) as run:
        proc, col, call_id, answered_at = run.proc, run.col, run.call_id, run.answered_at
        # dead_air.truth.json: mutual silence from 26.2 s to 39.3 s of the audio.
        ongoing = await col.wait_for(
            lambda e: e["type"] == "call.dead_air" and e["data"]["call_id"] == call_id,
            EVENT_TIMEOUT_S + 40.0)
        # The alert is due when the silence is dead_air_min_s long: how late it arrived.
        alert_s = time.time() - (answered_at + ongoing["data"]["start_s"]
                                 + MetricsConfig().dead_air_min_s)
        log.info("dead-air alert arrived %.3f s after the dead_air_min_s mark", alert_s)
        assert alert_s < 1.0, alert_s
        await asyncio.sleep(1.0)
        stopped_at = time.time()
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    stored = await blocking(stored_envelopes, tmp_path / "d" / "edgeqa.db")
    _valid(stored)
    dead = [e["data"] for e in of_call(stored, call_id, "call.dead_air")]
    stop_t = stopped_at - answered_at
    log.info("silence from %.2f s; stop at %.2f s; call.dead_air %s",
             ongoing["data"]["start_s"], stop_t, dead)
    start = ongoing["data"]["start_s"]
    this = [d for d in dead if d["start_s"] == pytest.approx(start, abs=0.05)]
    # v1 said "level": "ended" for the silence the stop cut.
    assert [d.get("state", d.get("level")) for d in this] == ["ongoing", "truncated"]
    truncated = this[-1]
    assert truncated["severity"] == "info"
    assert stop_t - 1.0 <= truncated["end_s"] <= stop_t + 0.5
    assert [d for d in dead if d["state"] == "ended" and d["end_s"] > start] == []
    (checkpoint,) = [e["data"] for e in of_call(stored, call_id, "call.metrics_suspended")]
    assert checkpoint["summary"]["dead_air"][-1]["truncated"] is True
    assert checkpoint["summary"]["dead_air"][-1]["end"] == pytest.approx(truncated["end_s"])


async def test_a_tap_lost_mid_call_is_a_gap_then_tapped_again(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    async with _daemon_with_call(running_sandbox, data_dir, tmp_path, collect,
                                 tap="snoop") as run:  # a snoop lost: the snoop tap's case
        col, call_id, answered_at = run.col, run.call_id, run.answered_at
        out = await blocking(running_sandbox.cli, "core show channels concise")
        snoop = next(line.split("!")[0] for line in out.splitlines()
                     if line.startswith("Snoop/"))
        lost_at = time.time()
        await blocking(running_sandbox.cli, f"channel request hangup {snoop}")
        mark = col.last_seq
        await col.wait_for(_sample_at(call_id, lost_at - answered_at + 1.0, after_seq=mark),
                           EVENT_TIMEOUT_S)
        await asyncio.sleep(3.0)
        await blocking(run.phones.finish)
        summary_env = await col.wait_for(_summary_of(call_id), EVENT_TIMEOUT_S)
        status = await blocking(run.proc.stop)
    assert status == 0, run.proc.log()
    summary = summary_env["data"]["summary"]
    lost_t = lost_at - answered_at
    log.info("snoop %s hung up at %.2f s; gaps %s; coverage %s", snoop, lost_t,
             summary["gaps"], summary["coverage"])
    (gap,) = summary["gaps"]
    assert gap["reason"] == "tap_failed" and summary_env["data"]["partial"] is True
    assert lost_t - 0.5 <= gap["start"] <= lost_t + 0.5
    assert gap["end"] <= lost_t + TAP_SETUP_S  # tapped again
    assert summary["coverage"][-1][1] == pytest.approx(summary["duration_s"], abs=0.05)
    assert [e for e in col.events if e["type"] == "call.dead_air"
            and e["data"]["call_id"] == call_id] == []
