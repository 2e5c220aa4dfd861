"""Hold on a live-tapped call: the held silence is `hold` in the summary, never dead air.

customer1 -> 600 -> Queue(support) -> agent1, both phones playing legs cut from the dead_air
fixture with 9 s of digital silence spliced in (mutual silence 10.9..21.3 s of audio time).
The agent's phone holds (re-INVITE a=sendonly) at 11.5 s and resumes at 18.5 s: the silence
around the hold is too short to be dead air, and the silence inside it is hold. The
fixture's own dead air that follows (24.17..31.3 s) must still be reported.
Run: EDGEQA_SANDBOX_PORT_BASE=17000 .venv/bin/pytest -q tests/integration/test_daemon_live_hold.py
"""

from __future__ import annotations

import asyncio
import logging
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeqa.analyze.offline import load_pair, run_call
from edgeqa.sandbox.demo.runner import in_thread as blocking
from edgeqa.sandbox.demo.stream_client import StreamCollector
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import FixtureCall
from tests.support.daemon import EVENT_TIMEOUT_S, METRIC_TYPES, call_in_state, is_type, make_daemon
from tests.support.hygiene import no_leaks  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaks")]
log = logging.getLogger(__name__)

FIXTURE = "dead_air"
NAME = "held"
#: (start_s, end_s) pieces of the fixture, or (None, seconds) of digital silence.
PIECES: tuple[tuple[float | None, float], ...] = ((0.0, 11.0), (None, 9.0), (22.0, 33.0),
                                                  (39.0, 43.0))
#: Audio time of the mutual silence the hold covers, and of the hold requests.
SILENT_S = (10.899, 21.3)
HOLD_AT_S, UNHOLD_AT_S = 11.5, 18.5
#: The fixture's dead air 26.174..39.3 s, after the splice: 24.174..31.3 s of audio time.
DEAD_AIR_S = (24.174, 31.3)
TALK_S = 35.5
TOL_S = 0.5


def _splice(calls_dir: Path, out_dir: Path) -> None:
    """Write <NAME>.customer.wav / <NAME>.agent.wav from the fixture's legs and PIECES."""
    for leg in ("customer", "agent"):
        with wave.open(str(calls_dir / f"{FIXTURE}.{leg}.wav"), "rb") as src:
            rate, width = src.getframerate(), src.getsampwidth()
            assert (src.getnchannels(), width) == (1, 2)
            pcm = src.readframes(src.getnframes())
        out = bytearray()
        for start, end in PIECES:
            if start is None:
                out += bytes(round(end * rate) * width)
            else:
                out += pcm[round(start * rate) * width:round(end * rate) * width]
        with wave.open(str(out_dir / f"{NAME}.{leg}.wav"), "wb") as dst:
            dst.setnchannels(1)
            dst.setsampwidth(width)
            dst.setframerate(rate)
            dst.writeframes(bytes(out))


async def _at(talk_started: float, audio_s: float) -> None:
    await asyncio.sleep(max(0.0, talk_started + audio_s - time.time()))


async def _held_call(box: Sandbox, api_url: str, calls_dir: Path, out: Path,
                     collect: Callable[..., StreamCollector]) -> dict[str, Any]:
    col = collect(api_url)
    await col.wait_for(is_type("resync.completed"), EVENT_TIMEOUT_S)
    phones = FixtureCall(box, calls_dir, out, fixture=NAME)
    try:
        await blocking(phones.start)
        talk_started = time.time()
        connected = await col.wait_for(call_in_state("connected"), EVENT_TIMEOUT_S)
        call_id = connected["data"]["call"]["call_id"]
        await _at(talk_started, HOLD_AT_S)
        hold_sent = time.time()
        await blocking(phones.agent.hold)
        hold_acked = time.time()
        await _at(talk_started, UNHOLD_AT_S)
        unhold_sent = time.time()
        await blocking(phones.agent.unhold)
        unhold_acked = time.time()
        await _at(talk_started, TALK_S)
        result = await blocking(phones.finish)
    finally:
        await blocking(phones.close)
    summary = await col.wait_for(
        lambda e: e["type"] == "call.summary" and e["data"]["call_id"] == call_id,
        EVENT_TIMEOUT_S)
    return {"events": col.events, "call_id": call_id, "summary": summary,
            "talk_started": talk_started, "hold": (hold_sent, hold_acked),
            "unhold": (unhold_sent, unhold_acked),
            "offline": run_call(load_pair(result.agent_heard, result.customer_heard))}


async def test_hold_is_reported_as_hold_not_dead_air(
        running_sandbox: Sandbox, data_dir: Path, tmp_path: Path,
        collect: Callable[..., StreamCollector]) -> None:
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    _splice(data_dir / "calls", calls_dir)
    proc = make_daemon(running_sandbox, tmp_path)
    proc.start()
    try:
        await blocking(proc.wait_ready)
        got = await _held_call(running_sandbox, proc.api_url, calls_dir, tmp_path / "call",
                               collect)
    finally:
        status = await blocking(proc.stop)
    assert status == 0, proc.log()
    call_id, summary = got["call_id"], got["summary"]["data"]
    live = summary["summary"]
    t0_at = summary["started_at"]
    # Audio time a is call time a + lead_s (the phones start playing after the answer).
    lead_s = got["talk_started"] - t0_at
    log.info("audio starts %.3f s after call time 0; hold sent/acked %.3f/%.3f s, unhold "
              "%.3f/%.3f s (call time)", lead_s, *(t - t0_at for t in got["hold"]),
              *(t - t0_at for t in got["unhold"]))
    assert 0.0 <= lead_s <= 2.0, lead_s
    mine = [e for e in got["events"] if e["type"] in METRIC_TYPES]
    assert all(e["data"]["call_id"] == call_id for e in mine)
    assert not [e for e in mine if e["type"] == "call.metrics_unavailable"]

    # The held silence really is a mutual silence over 5 s on the legs: offline analysis of
    # what the phones heard (which knows nothing of the hold) calls it dead air.
    offline = [(d["start"], d["end"]) for d in got["offline"]["dead_air"]]
    log.info("offline dead air (audio time of the recordings) %s", offline)
    assert any(s <= SILENT_S[0] + 1.5 and e >= SILENT_S[1] - 1.5 for s, e in offline), offline

    # The summary reports the hold, within 0.5 s of the phone's re-INVITEs.
    ((hold),) = live["hold"]
    log.info("summary hold %s", hold)
    assert abs(t0_at + hold["start"] - got["hold"][0]) <= TOL_S, (hold, got["hold"])
    assert abs(t0_at + hold["end"] - got["unhold"][0]) <= TOL_S, (hold, got["unhold"])

    # No dead air in or around the held interval; the fixture's later dead air still fires.
    dead = [e["data"] for e in mine if e["type"] == "call.dead_air"]
    log.info("call.dead_air on the stream: %s", dead)
    want = (DEAD_AIR_S[0] - lead_s, DEAD_AIR_S[1] - lead_s)
    assert dead, "the dead air after the hold was not reported"
    for d in dead:
        assert abs(d["start_s"] - want[0]) <= TOL_S, (d, want)
    ended = [d for d in dead if d["state"] == "ended"]
    assert len(ended) == 1 and abs(ended[0]["end_s"] - want[1]) <= TOL_S, (ended, want)
    assert ended[0]["severity"] == "info"
    assert [d["severity"] for d in dead if d["state"] == "ongoing"] == ["info"]
    ((only),) = live["dead_air"]
    assert abs(only["start"] - want[0]) <= TOL_S and abs(only["end"] - want[1]) <= TOL_S
    assert live["duration_s"] >= DEAD_AIR_S[1] + 2.0 - lead_s
