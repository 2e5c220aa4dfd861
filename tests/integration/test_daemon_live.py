"""The daemon's live metrics on a real queue call: the stream carries them, equal to offline.

Run: EDGEQA_SANDBOX_PORT_BASE=18000 .venv/bin/pytest -q tests/integration/test_daemon_live.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edgeqa.analyze.offline import load_pair, run_call
from edgeqa.sandbox.demo.daemon_proc import DaemonProcess
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import Envelope, StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.support.daemon import (
    EVENT_TIMEOUT_S,
    METRIC_TYPES,
    call_in_state,
    fixture_call,
    is_type,
    make_daemon,
)
from tests.support.hygiene import no_leaks  # noqa: F401
from tests.support.live import HELPER_PREFIXES, assert_close, complete

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]
log = logging.getLogger(__name__)

#: Long enough for two of the talk_over fixture's three interruptions (15.4 s and 25.05 s).
TALK_S = 27.5
#: Spec v1.1: live and offline levels of the same call within 0.5 dB.
LIVE_LEVEL_TOL_DB = 0.5


async def _bridges(box: Sandbox) -> list[dict[str, Any]]:
    url, user, password, _ = box.ari
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as session, \
            session.get(f"{url}/bridges", timeout=aiohttp.ClientTimeout(total=5)) as resp:
        assert resp.status == 200
        bridges: list[dict[str, Any]] = await resp.json()
        return bridges


def _helper_channels(box: Sandbox) -> list[str]:
    out = box.cli("core show channels concise")
    return [line for line in out.splitlines() if line.startswith(HELPER_PREFIXES)]


async def _live_call(box: Sandbox, proc: DaemonProcess, calls_dir: Path, out: Path,
                     collect: Callable[..., StreamCollector]) -> dict[str, Any]:
    col = collect(proc.api_url)
    await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
    phones = FixtureCall(box, calls_dir, out, fixture="talk_over")
    try:
        await blocking(phones.start)
        talk_started = time.time()
        connected = await col.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
        call_id = connected["data"]["call"]["call_id"]
        await asyncio.sleep(6.0)
        helpers = await blocking(lambda: _helper_channels(box))
        await asyncio.sleep(TALK_S - (time.time() - talk_started))
        result = await blocking(phones.finish)
    finally:
        await blocking(phones.close)
    summary = await col.wait_for(
        lambda e: e["type"] == "call.summary" and e["data"]["call_id"] == call_id,
        EVENT_TIMEOUT_S)
    return {"events": col.events, "call_id": call_id, "summary": summary, "helpers": helpers,
            "talk_started": talk_started,
            "left_channels": await blocking(lambda: _helper_channels(box)),
            "left_bridges": await _bridges(box),
            "offline": run_call(load_pair(result.agent_heard, result.customer_heard))}


@pytest.mark.parametrize("tap", ["capture", "snoop"])
async def test_live_metrics_on_the_stream_match_offline_and_truth(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector], tap: str) -> None:
    proc = make_daemon(running_sandbox, tmp_path, tap=tap)
    proc.start()
    try:
        await blocking(proc.wait_ready)
        got = await _live_call(running_sandbox, proc, data_dir / "calls", tmp_path / "call",
                               collect)
        health = proc.get("/v1/health")
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    events: list[Envelope] = got["events"]
    call_id, offline = got["call_id"], got["offline"]
    mine = [e for e in events if e["type"] in METRIC_TYPES]
    assert all(e["data"]["call_id"] == call_id and "leg" in e["data"] for e in mine)
    assert not [e for e in mine if e["type"] == "call.metrics_unavailable"]
    live = got["summary"]["data"]["summary"]
    # A call heard whole: no gap (its hang-up takes the snoops first; that is no failed tap).
    assert got["summary"]["data"]["partial"] is False and live["gaps"] == []
    offset_s = got["summary"]["data"]["started_at"] - got["talk_started"]
    log.info("daemon call time 0 is %.3f s after the phones' audio start", offset_s)
    truth = json.loads((data_dir / "calls" / "talk_over.truth.json").read_text())
    end_s = min(live["duration_s"], offline["duration_s"])
    assert end_s >= TALK_S - 1.5, (live["duration_s"], offline["duration_s"])
    # Per-second samples of both legs, about one a second.
    for leg in ("customer", "agent"):
        samples = [e["data"]["t_s"] for e in mine
                   if e["type"] == "leg.sample" and e["data"]["leg"] == leg]
        assert len(samples) >= int(TALK_S) - 2, (leg, len(samples))
        assert samples == sorted(samples)
    # Two complete talk-overs on the stream, with the right interrupter, as the truth says.
    true_over = complete([(e["start"], e["end"], e["interrupter"])
                           for e in truth["talk_over"]], end_s)
    streamed = complete([(e["data"]["start_s"], e["data"]["end_s"], e["data"]["interrupter"])
                          for e in mine if e["type"] == "call.talk_over"], end_s)
    assert len(true_over) == 2
    log.info("talk_over streamed %s truth %s", streamed, true_over)
    assert_close(streamed, true_over, "streamed talk_over/truth")
    assert [e[2] for e in streamed] == [e[2] for e in true_over]
    # The summary's events equal the offline analysis of the phones' recordings.
    live_over = complete([(e["start"], e["end"], e["interrupter"]) for e in live["talk_over"]],
                          end_s)
    off_over = complete([(e["start"], e["end"], e["interrupter"])
                          for e in offline["talk_over"]], end_s)
    assert_close(live_over, off_over, "summary talk_over/offline")
    assert [e[2] for e in live_over] == [e[2] for e in off_over]
    assert live["dead_air"] == offline["dead_air"] == []
    for leg in ("customer", "agent"):
        got_segs = complete(live["legs"][leg]["speech_segments"], end_s)
        assert_close(got_segs, complete(offline["legs"][leg]["speech_segments"], end_s),
               f"{leg} segments live/offline")
    # Live = offline levels (spec v1.1: both levels within 0.5 dB on the same audio).
    for leg in ("customer", "agent"):
        for key in ("active_level_dbov", "speech_level_dbov"):
            live_db, off_db = live["legs"][leg][key], offline["legs"][leg][key]
            log.info("%s %s live %s offline %s", leg, key, live_db, off_db)
            assert live_db is not None and off_db is not None, (leg, key)
            assert abs(live_db - off_db) <= LIVE_LEVEL_TOL_DB, (leg, key, live_db, off_db)
    # The snoop tap's helpers (2 snoops, 2 externalMedia; capture makes none) are not left.
    assert len(got["helpers"]) == (4 if tap == "snoop" else 0), got["helpers"]
    assert health["live"]["tap"] == tap and health["live"]["snoop_calls"] == 0
    if tap == "capture":
        assert health["live"]["capture"]["enabled"], health["live"]["capture"]
        assert health["live"]["capture"]["kernel_drops"] == 0
    assert got["left_channels"] == [] and got["left_bridges"] == []
    assert health["live"]["tapped"] == 1 and health["live"]["active_calls"] == 0


async def test_live_disabled_publishes_no_metric_events(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    # Not recorded either: a recorded call gets its summary from the recording
    # (test_recording_summaries.py).
    proc = make_daemon(running_sandbox, tmp_path, live=False, record=False)
    helpers: list[str] = []

    async def look(col: StreamCollector) -> None:
        await asyncio.sleep(3.0)
        helpers.extend(await blocking(lambda: _helper_channels(running_sandbox)))

    proc.start()
    try:
        col, _ = await fixture_call(running_sandbox, proc, data_dir / "calls",
                                    tmp_path / "call", collect, look)
        await col.wait_for(is_type("call.ended"), EVENT_TIMEOUT_S)
        await asyncio.sleep(1.5)
        health = proc.get("/v1/health")
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    assert helpers == []
    assert [e["type"] for e in col.events if e["type"] in METRIC_TYPES] == []
    assert health["live"] is None


async def test_taps_left_by_a_killed_daemon_are_removed_by_the_next(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    """SIGKILL while a call is tapped; the call ends while the daemon is down; the restart
    removes the helper channels and bridges the killed one could not (the snoop tap's)."""
    proc = make_daemon(running_sandbox, tmp_path, tap="snoop")
    proc.start()
    phones = FixtureCall(running_sandbox, data_dir / "calls", tmp_path / "call")
    try:
        await blocking(proc.wait_ready)
        col = collect(proc.api_url)
        await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        await blocking(phones.start)
        await col.wait_for(lambda e: e["type"] == "leg.sample", EVENT_TIMEOUT_S)
        assert proc.proc is not None
        proc.proc.kill()
        await blocking(proc.proc.wait, 10.0)
        await blocking(phones.finish)
        left = await blocking(lambda: _helper_channels(running_sandbox))
        left_bridges = await _bridges(running_sandbox)
        proc.start()
        await blocking(proc.wait_ready)
        again = collect(proc.api_url, after=col.last_seq)
        await again.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
        helpers = await blocking(lambda: _helper_channels(running_sandbox))
        bridges = await _bridges(running_sandbox)
    finally:
        await blocking(phones.close)
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    log.info("left by the killed daemon: %s, %d bridges", left, len(left_bridges))
    assert len(left_bridges) == 2  # what this test is about: the kill did leave them
    assert helpers == [] and bridges == []
    assert "removed 2 tap bridges left by a previous run" in proc.log()
