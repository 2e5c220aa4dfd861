"""Gaps: audio missing because a link, a tap or the daemon was down counts in no metric."""

from __future__ import annotations

import math
from array import array
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeqa.analyze.offline import CallAudio, load_stereo, run_call
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.events import (
    Alert,
    DeadAir,
    LegSample,
    MetricEvent,
    SegmentEnded,
    SegmentStarted,
    TalkOver,
)
from edgeqa.metrics.leg import LegAnalyzer
from edgeqa.metrics.result import GAP_REASONS, CallResult
from edgeqa.metrics.summary import build_summary
from tests.support.metrics_feed import (
    AGENT_3S8,
    CUSTOMER_4S6,
    RATE,
    Action,
    assert_same_outside,
    run_schedule,
    silence,
    speech,
)
from tests.support.paths import CALLS

EPS = 1e-6


@cache
def fixture(name: str) -> CallAudio:
    """A fixture call; "echo" is clean.wav's customer on both legs (talk-over half the time)."""
    if name == "echo":
        pcm = load_stereo(CALLS / "clean.wav").customer
        return CallAudio(pcm, pcm, RATE, "pcm16")
    return load_stereo(CALLS / f"{name}.wav")


def both(pcm: bytes) -> CallAudio:
    return CallAudio(pcm, pcm, RATE, "pcm16")


def spans(ev: MetricEvent) -> list[tuple[float, float]]:
    """The call-time intervals (or instants) an event speaks about."""
    if isinstance(ev, LegSample):
        return [(ev.t_s, ev.t_s + ev.covered_s)]
    if isinstance(ev, SegmentStarted):
        return [(ev.start_s, ev.start_s)]
    if isinstance(ev, SegmentEnded | DeadAir | TalkOver):
        return [(ev.start_s, ev.end_s)]
    if isinstance(ev, Alert):
        return [(ev.at_s, ev.at_s)]
    return []


def inside_a_gap(result: CallResult, events: list[MetricEvent]) -> list[MetricEvent]:
    """Events that speak about time strictly inside one of the result's gaps."""
    bad = []
    for ev in events:
        for s, e in spans(ev):
            for gap in result.gaps:
                if s < gap.end_s - EPS and e > gap.start_s + EPS:
                    bad.append(ev)
    return bad


def test_a_gap_during_a_silence_is_neither_dead_air_nor_an_alert() -> None:
    words = speech(*AGENT_3S8)  # speech to ~3.8 s, silence to 26.8 s, speech again
    audio = both(words + silence(23.0) + words)
    whole = run_call(audio)
    assert [round(d["start"]) for d in whole["dead_air"]] == [4]
    assert {a["severity"] for a in whole["alerts"] if a["type"] == "dead_air"} == {
        "info", "warn"}
    events, result = run_schedule(audio, [Action(6.0, "suspend", "pbx_outage"),
                                          Action(23.0, "resume")], block_s=0.02)
    summary = build_summary(result)
    assert summary["dead_air"] == []  # 3.8-6.0 and 23.0-26.8 are both under 5 s
    assert not [a for a in summary["alerts"] if a["type"] == "dead_air"]
    assert not [e for e in events if isinstance(e, DeadAir)
                or (isinstance(e, Alert) and e.type == "dead_air")]
    assert summary["gaps"] == [{"start": 6.0, "end": 23.0, "reason": "pbx_outage"}]
    assert summary["coverage"] == [[0.0, 6.0], [23.0, summary["duration_s"]]]
    assert summary["partial"] is True
    assert summary["covered_s"] == pytest.approx(summary["duration_s"] - 17.0)
    assert summary["duration_s"] == whole["duration_s"]  # the real duration
    assert not inside_a_gap(result, events)


def test_a_silence_cut_by_a_gap_is_truncated() -> None:
    words = speech(*AGENT_3S8)
    audio = both(words + silence(20.0))
    events, result = run_schedule(audio, [Action(12.0, "suspend", "daemon_restart")],
                                  end_s=30.0, block_s=0.02)
    [dead] = result.dead_air
    assert dead.truncated and dead.end_s == 12.0
    assert dead.start_s == pytest.approx(3.8, abs=0.5)
    dead_alerts = [a for a in result.alerts if a.type == "dead_air"]
    assert [a.severity for a in dead_alerts] == ["info"]  # 10 s would be after the cut
    summary = build_summary(result)
    assert summary["dead_air"][0]["truncated"] is True
    assert summary["duration_s"] == 30.0
    assert summary["gaps"] == [{"start": 12.0, "end": 30.0, "reason": "daemon_restart"}]
    assert summary["silence_pct"] == pytest.approx(100 * dead.duration_s / 12.0, abs=0.01)
    assert not inside_a_gap(result, events)


def test_a_short_silence_cut_by_a_gap_is_dropped() -> None:
    audio = both(speech(*AGENT_3S8) + silence(10.0))
    _, result = run_schedule(audio, [Action(6.0, "suspend", "tap_failed")], end_s=14.0)
    assert result.dead_air == ()


def test_talk_time_and_segments_leave_the_gap_out() -> None:
    cust = silence(1.0) + speech(*CUSTOMER_4S6) + silence(3.0)
    agent = silence(len(cust) / 2 / RATE)
    audio = CallAudio(cust, agent, RATE, "pcm16")
    whole = run_call(audio)["legs"]["customer"]
    [(start, end)] = whole["speech_segments"]
    events, result = run_schedule(audio, [Action(3.0, "suspend", "pbx_outage"),
                                          Action(4.5, "resume")], block_s=0.02)
    segments = result.legs["customer"].segments
    assert segments[0] == (start, 3.0)
    assert segments[1][0] >= 4.5 and segments[1][1] == pytest.approx(end, abs=0.1)
    talk = build_summary(result)["legs"]["customer"]["talk_time_s"]
    assert talk == pytest.approx(whole["talk_time_s"] - 1.5, abs=0.1)
    assert not inside_a_gap(result, events)
    starts = [e.start_s for e in events if isinstance(e, SegmentStarted)]
    assert starts[0] == start and starts[1] >= 4.5


def test_talk_over_is_cut_at_the_gap() -> None:
    pcm = silence(1.0) + speech(*AGENT_3S8) + silence(1.0)
    events, result = run_schedule(both(pcm), [Action(3.0, "suspend", "pbx_outage"),
                                              Action(4.0, "resume")])
    first, second = result.talk_over
    assert first.end_s == 3.0 and second.start_s == 4.0
    assert not inside_a_gap(result, events)


@pytest.mark.parametrize(("name", "gap"), [("dead_air", (18.0, 30.0)),
                                           ("clean", (20.0, 25.0)),
                                           ("talk_over", (7.0, 9.5))])
def test_the_same_audio_with_a_gap_equals_it_outside_the_gap(
        name: str, gap: tuple[float, float]) -> None:
    audio = fixture(name)
    whole = run_call(audio)
    _, result = run_schedule(audio, [Action(gap[0], "suspend", "pbx_outage"),
                                     Action(gap[1], "resume")])
    cut = build_summary(result)
    g, r = gap
    for leg in ("customer", "agent"):
        c = cut["legs"][leg]["speech_segments"]
        assert_same_outside(c, whole["legs"][leg]["speech_segments"], g, r)
        assert all(i[1] <= g or i[0] >= r for i in c)
        assert cut["legs"][leg]["active_level_dbov"] == pytest.approx(
            whole["legs"][leg]["active_level_dbov"], abs=0.5)
        assert cut["legs"][leg]["samples"] == whole["legs"][leg]["samples"] - (r - g) * RATE
    for key in ("dead_air", "talk_over"):
        assert_same_outside(cut[key], whole[key], g, r)


def test_a_retapped_call_starts_with_a_gap() -> None:
    """A daemon restart: a new analyzer whose audio starts at the call's true time."""
    audio = fixture("clean")
    whole = run_call(audio)
    call = CallAnalyzer(RATE)
    assert call.suspend(0.0, "daemon_restart") == []
    _, result = run_schedule(audio, [Action(20.0, "resume")], start_s=20.0, analyzer=call)
    summary = build_summary(result)
    assert summary["coverage"] == [[20.0, whole["duration_s"]]]
    assert summary["gaps"] == [{"start": 0.0, "end": 20.0, "reason": "daemon_restart"}]
    assert summary["duration_s"] == whole["duration_s"]
    for leg in ("customer", "agent"):
        later = [s for s in whole["legs"][leg]["speech_segments"] if s[0] > 20.0]
        assert summary["legs"][leg]["speech_segments"][-len(later):] == later
        assert all(s[0] >= 20.0 for s in summary["legs"][leg]["speech_segments"])


def test_while_suspended_audio_is_dropped_and_tick_fills_nothing() -> None:
    words = speech(*AGENT_3S8)
    call = CallAnalyzer(RATE)
    call.feed("agent", words, 0.0)
    call.feed("customer", silence(len(words) / 2 / RATE), 0.0)
    call.suspend(4.0, "pbx_outage")
    assert call.tick(30.0) == []
    assert call.feed("agent", silence(1.0), 5.0) == []
    assert call.legs["agent"].frames_in_gap == 50
    assert call.legs["customer"].frames == 200
    call.resume(30.0)
    assert call.legs["agent"].frames == 1500
    call.feed("agent", silence(0.5), 29.0)  # late: its time is in the gap
    assert call.legs["agent"].frames_dropped == 25
    events = call.tick(32.0)
    assert events and not [e for e in events if isinstance(e, Alert)]
    result = call.finish()
    assert [(g.start_s, g.end_s) for g in result.gaps] == [(4.0, 30.0)]
    assert not inside_a_gap(result, events)


def test_hold_is_kept_across_a_gap_and_cut_at_it() -> None:
    pcm = speech(*AGENT_3S8) + silence(30.0)
    _, result = run_schedule(both(pcm), [
        Action(5.0, "hold_on"), Action(10.0, "suspend"), Action(20.0, "resume"),
        Action(25.0, "hold_off")])
    assert result.holds == ((5.0, 10.0), (20.0, 25.0))
    assert [(d.start_s, d.truncated) for d in result.dead_air] == [(25.0, False)]


def test_hold_ending_inside_a_gap_applies_at_its_end() -> None:
    pcm = speech(*AGENT_3S8) + silence(30.0)
    _, result = run_schedule(both(pcm), [
        Action(5.0, "hold_on"), Action(10.0, "suspend"), Action(15.0, "hold_off"),
        Action(20.0, "resume")])
    assert result.holds == ((5.0, 10.0),)
    assert [d.start_s for d in result.dead_air] == [20.0]


def test_suspend_rejects_an_unknown_reason_and_is_idempotent() -> None:
    call = CallAnalyzer(RATE)
    with pytest.raises(ValueError, match="reason"):
        call.suspend(1.0, "network")
    call.suspend(1.0, "pbx_outage")
    assert call.suspend(2.0, "tap_failed") == [] and call.suspended
    assert call.resume(3.0) == [] and not call.suspended
    assert call.resume(4.0) == []
    result = call.finish()
    assert [(g.start_s, g.end_s, g.reason) for g in result.gaps] == [(1.0, 3.0, "pbx_outage")]
    with pytest.raises(RuntimeError):
        call.suspend(5.0, "pbx_outage")


def test_without_gaps_the_summary_covers_the_whole_call() -> None:
    s = run_call(fixture("talk_over"))
    assert s["schema"] == "edgeqa.call_summary/4"
    assert s["coverage"] == [[0.0, s["duration_s"]]] and s["gaps"] == []
    assert s["covered_s"] == s["duration_s"] and s["partial"] is False


# -- property: random schedules --------------------------------------------------------------

@st.composite
def schedules(draw: st.DrawFn) -> tuple[str, list[Action], float | None]:
    name = draw(st.sampled_from(["dead_air", "talk_over", "echo"]))
    frames = len(fixture(name).customer) // (2 * RATE // 50)
    points = sorted(draw(st.sets(st.integers(0, frames + 250), max_size=6)))
    actions = [Action(p / 50, "suspend" if i % 2 == 0 else "resume",
                      draw(st.sampled_from(GAP_REASONS)))
               for i, p in enumerate(points)]
    for t in draw(st.lists(st.integers(0, frames), max_size=3, unique=True)):
        actions.append(Action(t / 50, draw(st.sampled_from(["hold_on", "hold_off"]))))
    end = draw(st.none() | st.integers(0, 400).map(lambda d: (frames + d) / 50))
    return name, actions, end


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules())
def test_no_event_inside_a_gap_and_coverage_tiles_the_call(
        case: tuple[str, list[Action], float | None]) -> None:
    name, actions, end_s = case
    events, result = run_schedule(fixture(name), actions, end_s=end_s)
    expected, open_at = [], None
    for a in sorted(actions, key=lambda a: a.t_s):
        if a.kind == "suspend":
            open_at, reason = a.t_s, a.reason
        elif a.kind == "resume" and open_at is not None:
            expected.append((open_at, a.t_s, reason))
            open_at = None
    if open_at is not None:
        expected.append((open_at, max(open_at, end_s or 0.0), reason))
    assert [(g.start_s, g.end_s, g.reason) for g in result.gaps] == [
        g for g in expected if g[1] > g[0]]
    assert not inside_a_gap(result, events)
    assert not inside_a_gap(result, [*result.dead_air, *result.talk_over, *result.alerts])
    pieces = sorted([*result.coverage, *((g.start_s, g.end_s) for g in result.gaps)])
    at = 0.0
    for s, e in pieces:
        assert s == pytest.approx(at, abs=EPS) and e >= s
        at = e
    assert at == pytest.approx(result.duration_s, abs=EPS)
    assert result.covered_s == pytest.approx(
        result.duration_s - sum(g.end_s - g.start_s for g in result.gaps), abs=1e-3)
    for hold in result.holds:
        assert hold[1] > hold[0]
        assert not any(hold[0] < g.end_s - EPS and hold[1] > g.start_s + EPS
                       for g in result.gaps)
    for leg in result.legs.values():
        assert not any(s < g.end_s - EPS and e > g.start_s + EPS
                       for s, e in leg.segments for g in result.gaps)


def test_hold_starting_where_a_gap_starts_leaves_no_empty_interval() -> None:
    pcm = speech(*AGENT_3S8) + silence(20.0)
    _, result = run_schedule(both(pcm), [
        Action(10.0, "hold_on"), Action(10.0, "suspend"), Action(15.0, "resume")])
    assert result.holds == ((15.0, result.duration_s),)


def test_a_second_cut_by_a_gap_gives_a_sample_of_its_covered_part() -> None:
    n = int(2.0 * RATE)
    amp = 3000
    tone = array("h", [round(amp * math.sin(2 * math.pi * 440 * i / RATE))
                       for i in range(n)]).tobytes()
    want = 20 * math.log10(amp / math.sqrt(2) / 32768)
    leg = LegAnalyzer("customer", RATE)
    first = [e for e in leg.feed(tone[:2 * int(1.5 * RATE)], 0.0) if isinstance(e, LegSample)]
    cut = [e for e in leg.suspend(1.5) if isinstance(e, LegSample)]
    assert [(s.t_s, s.covered_s) for s in first + cut] == [(0.0, 1.0), (1.0, 0.5)]
    assert leg.feed(tone[:1600], 1.6) == [] and leg.frames_in_gap == 5
    leg.resume(2.3)
    after = [e for e in leg.feed(tone[:2 * int(0.7 * RATE)], 2.3) if isinstance(e, LegSample)]
    assert [(s.t_s, s.covered_s) for s in after] == [(2.3, 0.7)]
    for sample in (*cut, *after):
        assert sample.rms_dbov == pytest.approx(want, abs=0.1)
    assert leg.samples == int(2.2 * RATE)
