"""The streaming analyzers: live frame-by-frame equals offline, hold, alerts, holes, limits."""

from __future__ import annotations

import math
from array import array
from typing import Any

import pytest

from edgeqa.analyze.offline import CallAudio, load_stereo, run_call
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.config import MetricsConfig
from edgeqa.metrics.events import Alert, DeadAir, LegSample, SegmentStarted
from edgeqa.metrics.leg import LegAnalyzer
from edgeqa.metrics.summary import build_summary
from tests.support.metrics_feed import AGENT_3S8, CUSTOMER_4S6, silence, speech
from tests.support.paths import CALLS

CALLS = CALLS
RATE = 8000
FRAME = 2 * RATE // 50


def tone(seconds: float, amp: float, freq: float = 440.0, rate: int = RATE) -> bytes:
    n = int(seconds * rate)
    return array("h", [round(amp * math.sin(2 * math.pi * freq * i / rate))
                       for i in range(n)]).tobytes()


def feed_live(audio: CallAudio, call: CallAnalyzer) -> dict[str, Any]:
    """Feed 20 ms frames alternately, as two live taps would; return the summary."""
    events: list[object] = []
    fb = 2 * audio.sample_rate // 50
    for off in range(0, max(len(audio.customer), len(audio.agent)), fb):
        t = off / (2 * audio.sample_rate)
        if off < len(audio.customer):
            events += call.feed("customer", audio.customer[off:off + fb], t)
        if off < len(audio.agent):
            events += call.feed("agent", audio.agent[off:off + fb], t)
    return build_summary(call.finish())


@pytest.mark.parametrize("name", ["talk_over", "dead_air_noise", "clipping_noise"])
def test_live_equals_offline(name: str) -> None:
    audio = load_stereo(CALLS / f"{name}.wav")
    offline = run_call(audio)
    assert feed_live(audio, CallAnalyzer(audio.sample_rate, audio.codec)) == offline


def test_dead_air_alerts_fire_within_a_second() -> None:
    words = speech(*AGENT_3S8)
    cust = words + silence(33.0) + words
    audio = CallAudio(cust, cust, RATE, "pcm16")
    call = CallAnalyzer(RATE)
    fired: dict[str, float] = {}
    fb = FRAME
    for off in range(0, len(cust), fb):
        t = off / (2 * RATE)
        for leg in ("customer", "agent"):
            for ev in call.feed(leg, audio.customer[off:off + fb], t):  # type: ignore[arg-type]
                if isinstance(ev, Alert) and ev.type == "dead_air":
                    fired[ev.severity] = t + 0.02  # the wall time at which it was emitted
                    assert ev.at_s <= fired[ev.severity]
    [dead] = build_summary(call.finish())["dead_air"]
    for level, after in (("info", 5.0), ("warn", 10.0), ("alert", 30.0)):
        assert 0 <= fired[level] - (dead["start"] + after) <= 1.0
    assert dead["duration_s"] == pytest.approx(33.0, abs=0.5)
    assert dead["start"] == pytest.approx(3.8, abs=0.5)


def test_hold_is_not_dead_air() -> None:
    words = speech(*AGENT_3S8)
    pcm = words + silence(20.0) + words
    call = CallAnalyzer(RATE)
    events: list[object] = []
    for off in range(0, len(pcm), FRAME):
        t = off / (2 * RATE)
        if t == 5.0:
            call.set_hold(True, t)
        if t == 22.0:
            call.set_hold(False, t)
        events += call.feed("customer", pcm[off:off + FRAME], t)
        events += call.feed("agent", pcm[off:off + FRAME], t)
    summary = build_summary(call.finish())
    assert summary["hold"] == [{"start": 5.0, "end": 22.0, "duration_s": 17.0}]
    assert summary["dead_air"] == []  # 3.8-5.0 and 22.0-23.8 are under 5 s
    assert not any(isinstance(e, DeadAir) for e in events)


def test_talk_over_alert_and_interrupter() -> None:
    cust = silence(1.0) + speech(*CUSTOMER_4S6) + silence(1.0)
    agent = silence(2.0) + speech(*AGENT_3S8)
    data = run_call(CallAudio(cust, agent, RATE, "pcm16"))
    [over] = data["talk_over"]
    assert over["interrupter"] == "agent"
    assert over["start"] == pytest.approx(2.0, abs=0.5)
    assert over["end"] == pytest.approx(5.6, abs=0.5)
    alerts = [a for a in data["alerts"] if a["type"] == "talk_over"]
    assert alerts and alerts[0]["at"] == pytest.approx(over["start"] + 3.0, abs=0.05)


def test_both_started_together() -> None:
    pcm = silence(1.0) + speech(*AGENT_3S8)
    data = run_call(CallAudio(pcm, pcm, RATE, "pcm16"))
    assert [o["interrupter"] for o in data["talk_over"]] == ["both"]


def test_per_second_samples_and_segment_events() -> None:
    leg = LegAnalyzer("customer", RATE)
    events = leg.feed(silence(1.0) + tone(1.0, 3000) + speech(*AGENT_3S8), 0.0)
    samples = [e for e in events if isinstance(e, LegSample)]
    assert [s.t_s for s in samples] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert samples[0].rms_dbov == -120.0 and samples[0].level_dbov_1s is None
    assert samples[0].speech_fraction == 0.0
    expected = 20 * math.log10(3000 / math.sqrt(2) / 32768)
    assert samples[1].rms_dbov == pytest.approx(expected, abs=0.1)
    assert samples[2].speech_fraction > 0.5
    assert samples[2].level_dbov_1s is not None
    starts = [e.start_s for e in events if isinstance(e, SegmentStarted)]
    assert any(abs(t - 2.0) <= 0.5 for t in starts)


def test_hole_fill_late_frames_and_partial_frames() -> None:
    leg = LegAnalyzer("agent", RATE)
    leg.feed(tone(0.1, 3000), 0.0)
    leg.feed(tone(0.1, 3000), 0.5)  # a 0.4 s hole in the feed is silence
    assert leg.frames == 30
    leg.feed(tone(0.04, 3000), 0.4)  # late: already covered
    assert leg.frames == 30 and leg.frames_dropped == 2
    leg.feed(bytes(100), 0.6)
    leg.feed(bytes(220), 0.6)  # completes the partial frame
    assert leg.frames == 31
    with pytest.raises(ValueError, match="hole"):
        leg.feed(bytes(FRAME), 3600.0)


def test_state_per_leg_is_small() -> None:
    audio = load_stereo(CALLS / "talk_over.wav")
    call = CallAnalyzer(RATE)
    long_pcm = audio.customer * 20  # about 14 minutes of real speech
    for off in range(0, len(long_pcm), 2 * RATE):
        call.feed("customer", long_pcm[off:off + 2 * RATE], off / (2 * RATE))
        call.feed("agent", bytes(len(long_pcm[off:off + 2 * RATE])), off / (2 * RATE))
    assert call.legs["customer"].state_bytes() < 64 * 1024


def test_a_leg_ahead_waits_for_the_other_within_a_bound() -> None:
    """The echo gate needs both legs' audio of a frame: a leg ahead is queued, at most
    MAX_LEG_AHEAD_S; beyond that the other leg is taken as silent (as tick() does)."""
    from edgeqa.metrics.call import MAX_LEG_AHEAD_S

    audio = load_stereo(CALLS / "talk_over.wav")
    call = CallAnalyzer(RATE)
    one_s = 2 * RATE
    call.feed("customer", audio.customer[:5 * one_s], 0.0)
    c, a = call.legs["customer"], call.legs["agent"]
    assert (c.frames, c.done, a.frames, a.done) == (250, 0, 0, 0)  # waiting: nothing decided
    call.feed("agent", audio.agent[:2 * one_s], 0.0)
    assert (c.done, a.done, c.queued) == (100, 100, 150)
    long_pcm = audio.customer * 3
    call.feed("customer", long_pcm[5 * one_s:], 5.0)
    assert c.queued == MAX_LEG_AHEAD_S * 50 and a.frames == c.frames - c.queued
    assert c.state_bytes() < 64 * 1024 + MAX_LEG_AHEAD_S * one_s


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        MetricsConfig(segment_bridge_ms=10)
    with pytest.raises(ValueError):
        MetricsConfig(vad_mode=4)
    with pytest.raises(ValueError):
        LegAnalyzer("customer", 44100)


def test_tick_treats_a_silent_leg_as_silence() -> None:
    """Only the agent sends audio; tick() keeps the call's timeline and alerts moving."""
    words = speech(*AGENT_3S8)
    pcm = words + silence(12.0)
    call = CallAnalyzer(RATE)
    alerts: list[tuple[str, float]] = []
    for off in range(0, len(pcm), FRAME):
        now = off / (2 * RATE)
        for ev in call.feed("agent", pcm[off:off + FRAME], now) + call.tick(now + 0.02):
            if isinstance(ev, Alert):
                alerts.append((ev.severity, now))
    assert [level for level, _ in alerts] == ["info", "warn"]
    assert alerts[0][1] == pytest.approx(3.8 + 5.0, abs=1.0)
    assert call.legs["customer"].frames >= call.legs["agent"].frames - 10


def test_vad_through_the_public_wrapper_gives_the_same_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without webrtcvad-wheels' _webrtcvad entry point, Vad.is_speech gives equal results."""
    import edgeqa.metrics.leg as leg_module

    audio = load_stereo(CALLS / "talk_over.wav")
    direct = run_call(audio)
    monkeypatch.setattr(leg_module, "_vad_process", None)
    assert run_call(audio) == direct


def test_next_dead_air_alert_is_when_its_audio_is_analysed() -> None:
    """The tick scheduling hint: feeding silence up to next_dead_air_alert_s fires the alert,
    a frame less does not; then the next level's time."""
    cfg = MetricsConfig()
    call = CallAnalyzer(RATE, config=cfg)
    assert call.next_dead_air_alert_s() == pytest.approx(5.0 + cfg.speech_pad_ms / 1000)
    due = call.next_dead_air_alert_s()
    assert due is not None
    frames = round(due * 50)
    fired: list[Any] = []
    for i in range(frames):
        for leg in ("customer", "agent"):
            fired += [e for e in call.feed(leg, bytes(FRAME), i * 0.02) if isinstance(e, Alert)]
        if i == frames - 2:
            assert fired == []  # a frame short of the mark's audio
    assert [(a.type, a.at_s) for a in fired] == [("dead_air", 5.0)]
    assert call.next_dead_air_alert_s() == pytest.approx(10.0 + cfg.speech_pad_ms / 1000)
    call.suspend(6.0, "pbx_outage")
    assert call.next_dead_air_alert_s() is None  # a gap raises no alert
