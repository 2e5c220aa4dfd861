"""The live service with the capture tap: which tap a call gets, the rate it is analysed at,
what a strict [live] tap = "capture" refuses, and a capture-run checkpoint summed up."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, cast

import pytest

from edgeqa.ari.resources import AriResources
from edgeqa.calls.changes import CallConnected, CallEnded
from edgeqa.config import default_live
from edgeqa.live.call import LiveCall
from edgeqa.live.capture_tap import VAR_DIRECT, VAR_FORMAT, VAR_SECURE, VAR_SRC, CallCapture
from edgeqa.live.clock import CallClock
from edgeqa.live.service import LiveMetrics
from edgeqa.live.taps import CallTaps
from edgeqa.media import engine
from edgeqa.media.capture import RtpCapture
from edgeqa.media.receiver import RtpReceiver
from edgeqa.media.timeline import WireCodec
from edgeqa.metrics.codecs import clip_level
from edgeqa.metrics.reference import LS_CLIP_LEVEL
from edgeqa.store import EventLike
from tests.unit.live.test_service import FakeAri, _now, _until


class CaptureAri(FakeAri):
    """The service's fake ARI, answering the legs' CHANNEL(rtp,...) reads too."""

    def __init__(self, secure: str = "0", agent_codec: str = "ulaw") -> None:
        super().__init__()
        self.secure = secure
        self.agent_codec = agent_codec
        self.customer_codec = "ulaw"

    async def get_variable(self, channel_id: str, variable: str) -> str:
        port = 10002 if channel_id == "u-cust" else 10004
        codec = self.customer_codec if channel_id == "u-cust" else self.agent_codec
        return {VAR_SRC: f"127.0.0.1:{port}", VAR_SECURE: self.secure, VAR_DIRECT: "(null)",
                VAR_FORMAT: f"({codec})"}[variable]


def _service(ari: FakeAri, tap: str, capture: bool) -> tuple[LiveMetrics, list[EventLike]]:
    submitted: list[EventLike] = []
    cfg = replace(default_live(), tick_s=0.02, tap=tap)
    live = LiveMetrics(cfg, cast(AriResources, ari), submitted.extend)
    receiver = RtpReceiver(lambda *_: None, lambda: 0.0)
    receiver.local_address = ("127.0.0.1", 4000)
    live.receiver = receiver
    if capture:
        assert live.capture is not None
        live.capture.engine = engine.Ingest(8, 5)  # open, without a ring
        live.capture.unavailable = None
    elif live.capture is not None:
        live.capture.unavailable = "host RTP capture needs CAP_NET_RAW"
    return live, submitted


def _connected(call_id: str) -> CallConnected:
    now = _now()
    return CallConnected(call_id, now, now, "u-cust", "u-agent")


@pytest.mark.parametrize("secure,captured", [("0", True), ("1", False)])
async def test_auto_captures_where_it_can_else_snoops_at_8_khz(secure: str,
                                                               captured: bool) -> None:
    ari = CaptureAri(secure)
    live, submitted = _service(ari, "auto", capture=True)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([_connected("c1")], _now())
        taps = live.active["c1"]
        assert isinstance(taps, CallCapture) and taps.call.sample_rate == 8000
        await _until(lambda: bool(taps.slots) or taps.snoop is not None)
        if captured:
            assert taps.mode == "capture" and ari.channels == set()
            assert live.health()["snoop_calls"] == 0
        else:  # SRTP: 2 snoops + 2 externalMedia
            await _until(lambda: len(ari.channels) == 4)
            assert taps.mode == "snoop" and live.health()["snoop_calls"] == 1
        live.on_changes([CallEnded("c1", _now())], _now())
        await _until(lambda: not live.active)
    assert [e.type for e in submitted][-1] == "call.summary"
    assert submitted[-1].data["summary"]["sample_rate"] == 8000
    assert ari.channels == set()


@pytest.mark.parametrize(("snoop_format", "rate"), [("slin", 8000), ("slin16", 16000)])
async def test_without_capture_auto_snoops_at_its_format_and_capture_refuses(
        snoop_format: str, rate: int) -> None:
    """The snoop carries [live] snoop_format: slin (8 kHz, a G.711 leg's own values, the
    default) or slin16 (wideband)."""
    ari = CaptureAri()
    live, _ = _service(ari, "auto", capture=False)
    live.cfg = replace(live.cfg, snoop_format=snoop_format)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([_connected("c1")], _now())
        taps = live.active["c1"]
        assert isinstance(taps, CallTaps) and taps.call.sample_rate == rate
        await _until(lambda: len(ari.channels) == 4)
        assert ari.media_formats == [snoop_format, snoop_format]
        await _until(lambda: len(ari.channels) == 4)
        live.on_changes([CallEnded("c1", _now())], _now())
        await _until(lambda: not live.active)
    assert live.health()["capture"] == {"enabled": False,
                                        "reason": "host RTP capture needs CAP_NET_RAW"}
    strict, submitted = _service(CaptureAri(), "capture", capture=False)
    async with asyncio.TaskGroup() as tg:
        strict.bind(tg)
        strict.on_changes([_connected("c2")], _now())
    (refused,) = submitted
    assert refused.type == "call.metrics_unavailable" and not strict.active
    assert "needs CAP_NET_RAW" in refused.data["reason"]
    assert LiveMetrics(replace(default_live(), tap="snoop"), cast(AriResources, ari),
                       lambda _: None).capture is None


def _checkpointed(codec: WireCodec) -> dict[str, Any]:
    """The summary a run that analysed call k in ``codec`` checkpointed at 8 s."""
    out: list[Any] = []
    LiveCall("k", CallClock(0.0, 0.0), out.extend, codec=codec).checkpoint(8.0, "daemon_restart")
    summary: dict[str, Any] = out[-1].data["summary"]
    return summary


def _left_up(live: LiveMetrics, summary: dict[str, Any]) -> float:
    """Call k, answered 20 s ago, left up by a run that checkpointed ``summary`` at 8 s;
    return its answer time."""
    answered = _now() - 20.0
    live.restore([{"id": "k", "data": {"call": {"call_id": "k", "answered_at": answered}}}],
                 {"k": {"call_id": "k", "t_s": 8.0, "started_at": answered,
                        "summary": summary}})
    return answered


async def test_a_captured_calls_checkpoint_is_summed_up_at_its_rate() -> None:
    """A call a capture run checkpointed (8 kHz) that ended while edgeqa was down."""
    summary = _checkpointed("ulaw")
    assert summary["sample_rate"] == 8000
    ari = CaptureAri()
    live, submitted = _service(ari, "auto", capture=True)
    answered = _left_up(live, summary)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([CallEnded("k", answered + 15.0)], _now())
    (done,) = submitted
    assert done.type == "call.summary" and done.data["summary"]["sample_rate"] == 8000
    assert done.data["summary"]["gaps"] == [
        {"start": 8.0, "end": 15.0, "reason": "daemon_restart"}]


async def test_an_a_law_leg_is_analysed_at_a_laws_clip_level() -> None:
    """The call is set up as µ-law before its legs are looked up; each leg takes its own."""
    ari = CaptureAri(agent_codec="alaw")
    live, submitted = _service(ari, "auto", capture=True)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([_connected("c1")], _now())
        taps = live.active["c1"]
        await _until(lambda: len(taps.slots) == 2)
        legs = taps.call.analyzer.legs
        assert (legs["customer"].codec, legs["agent"].codec) == ("ulaw", "alaw")
        assert legs["agent"]._st[LS_CLIP_LEVEL] == clip_level("alaw") != clip_level("ulaw")
        ari.customer_codec = "alaw"  # a re-INVITE: both legs A-law, the call's codec too
        taps.media_may_have_moved()
        taps._checked_at = -1e9
        await _until(lambda: taps.call.codec == "alaw", 3.0)
        live.on_changes([CallEnded("c1", _now())], _now())
        await _until(lambda: not live.active)
    assert submitted[-1].data["summary"]["codec"] == "alaw"


class CountingReader:
    """The ring's reader, counting who reads it (RtpCapture's hold/drain/release)."""

    def __init__(self) -> None:
        self.held = False
        self.holds = self.drains = self.releases = 0

    def hold(self) -> None:
        self.held = True
        self.holds += 1

    def drain(self) -> int:
        self.drains += 1
        return 0

    def release(self) -> None:
        self.held = False
        self.releases += 1

    def close(self) -> None:
        pass


async def test_while_calls_are_ticked_their_one_timer_reads_the_ring() -> None:
    """The ring wakes no one while a call is ticked: the timer drains it before its ticks,
    and hands it back to the ring's own reader when the last call ends."""
    live, _ = _service(CaptureAri(), "auto", capture=True)
    assert live.capture is not None
    reader = CountingReader()
    live.capture.reader = cast(RtpCapture, reader)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        assert not reader.held
        live.on_changes([_connected("c1")], _now())
        taps = live.active["c1"]
        await _until(lambda: len(taps.slots) == 2 and reader.drains >= 5)
        assert reader.held and reader.holds == 1
        live.on_changes([CallEnded("c1", _now())], _now())
        await _until(lambda: not live.active)
        await _until(lambda: not reader.held)
    assert reader.holds == reader.releases == 1


@pytest.mark.parametrize("tap", ["capture", "auto"])
async def test_a_call_a_snoop_run_checkpointed_at_16_khz_moves_to_capture(tap: str) -> None:
    """Resumed from a 16 kHz snoop checkpoint, the call is captured (no snoop, which a strict
    tap = "capture" never uses), analysed at 8 kHz, and its summary takes the checkpoint over."""
    summary = _checkpointed("slin16")
    assert (summary["sample_rate"], summary["codec"]) == (16000, "pcm16")
    assert summary["legs"]["customer"]["samples"] == 8 * 16000
    ari = CaptureAri()
    live, submitted = _service(ari, tap, capture=True)
    _left_up(live, summary)
    async with asyncio.TaskGroup() as tg:
        live.bind(tg)
        live.on_changes([_connected("k")], _now())
        taps = live.active["k"]
        assert isinstance(taps, CallCapture) and taps.call.sample_rate == 8000
        await _until(lambda: len(taps.slots) == 2)
        assert taps.mode == "capture" and ari.channels == set()
        live.on_changes([CallEnded("k", _now())], _now())
        await _until(lambda: not live.active)
    done = submitted[-1]
    assert done.type == "call.summary"
    merged = done.data["summary"]
    assert (merged["sample_rate"], merged["codec"]) == (8000, "ulaw")
    assert merged["gaps"][0] == {"start": 8.0, "end": pytest.approx(20.0, abs=0.5),
                                 "reason": "daemon_restart"}
    assert merged["legs"]["customer"]["samples"] >= 8 * 8000  # the snoop run's 8 s, at 8 kHz
    assert live.stats.resumed == 1
