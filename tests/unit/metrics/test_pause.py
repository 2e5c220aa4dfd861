"""PCI pause: paused call time is analysed as nothing, and listed apart from gaps."""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeqa.analyze.offline import CallAudio, load_stereo, pause_spans, run_call
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
from edgeqa.metrics.result import GAP_REASONS, CallResult
from edgeqa.metrics.summary import build_summary
from tests.support.metrics_feed import (
    AGENT_3S8,
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
    return load_stereo(CALLS / f"{name}.wav")


def both(pcm: bytes) -> CallAudio:
    return CallAudio(pcm, pcm, RATE, "pcm16")


def spans(ev: MetricEvent) -> list[tuple[float, float]]:
    """The call-time intervals (or instants) an event speaks about (paused samples: none)."""
    if isinstance(ev, LegSample):
        return [] if ev.paused else [(ev.t_s, ev.t_s + ev.covered_s)]
    if isinstance(ev, SegmentStarted):
        return [(ev.start_s, ev.start_s)]
    if isinstance(ev, SegmentEnded | DeadAir | TalkOver):
        return [(ev.start_s, ev.end_s)]
    if isinstance(ev, Alert):
        return [(ev.at_s, ev.at_s)]
    return []


def inside(intervals: tuple[tuple[float, float], ...] | list[tuple[float, float]],
           events: list[MetricEvent]) -> list[MetricEvent]:
    """Events that speak about time strictly inside one of ``intervals``."""
    return [ev for ev in events for s, e in spans(ev) for a, b in intervals
            if s < b - EPS and e > a + EPS]


def paused_samples(events: list[MetricEvent]) -> list[LegSample]:
    return [e for e in events if isinstance(e, LegSample) and e.paused]


def test_a_pause_during_a_silence_is_neither_dead_air_nor_a_gap() -> None:
    words = speech(*AGENT_3S8)  # speech to ~3.8 s, silence to 26.8 s, speech again
    audio = both(words + silence(23.0) + words)
    events, result = run_schedule(audio, [Action(6.0, "pause"), Action(23.0, "unpause")],
                                  block_s=0.02)
    summary = build_summary(result)
    assert summary["dead_air"] == [] and not [a for a in summary["alerts"]
                                              if a["type"] == "dead_air"]
    assert summary["paused"] == [{"start": 6.0, "end": 23.0}] and summary["paused_s"] == 17.0
    assert summary["gaps"] == [] and summary["partial"] is False
    assert summary["paused_at_end"] is False
    assert summary["coverage"] == [[0.0, 6.0], [23.0, summary["duration_s"]]]
    assert summary["covered_s"] == pytest.approx(summary["duration_s"] - 17.0)
    assert summary["duration_s"] == run_call(audio)["duration_s"]
    assert not inside(result.pauses, events)


def test_a_pause_cuts_what_is_open_as_a_gap_does() -> None:
    """The same schedule as a gap or as a pause: the same analysis, listed differently."""
    audio = fixture("talk_over")
    for start, end in ((3.0, 9.5), (0.0, 4.0), (12.34, 40.0)):
        g_events, gapped = run_schedule(audio, [Action(start, "suspend", "pbx_outage"),
                                                Action(end, "resume")], end_s=40.0)
        p_events, paused = run_schedule(audio, [Action(start, "pause"),
                                                Action(end, "unpause")], end_s=40.0)
        assert [e for e in p_events if not isinstance(e, LegSample)] == \
            [e for e in g_events if not isinstance(e, LegSample)]
        for leg in ("customer", "agent"):
            assert paused.legs[leg] == gapped.legs[leg]
        assert (paused.dead_air, paused.talk_over, paused.alerts, paused.coverage) == \
            (gapped.dead_air, gapped.talk_over, gapped.alerts, gapped.coverage)
        cut = min(end, paused.duration_s)
        assert paused.gaps == () and paused.pauses == ((start, cut),)
        assert [(g.start_s, g.end_s) for g in gapped.gaps] == [(start, cut)]
        # Audio samples alike; the pause adds its own paused ones, the gap none.
        assert [e for e in p_events if isinstance(e, LegSample) and not e.paused] == \
            [e for e in g_events if isinstance(e, LegSample)]


def test_a_silence_cut_by_a_pause_is_truncated_and_a_short_one_dropped() -> None:
    words = speech(*AGENT_3S8)
    _, result = run_schedule(both(words + silence(20.0)), [Action(12.0, "pause")], end_s=30.0)
    [dead] = result.dead_air
    assert dead.truncated and dead.end_s == 12.0
    assert result.pauses == ((12.0, 30.0),) and result.paused_at_end
    summary = build_summary(result)
    assert summary["silence_pct"] == pytest.approx(100 * dead.duration_s / 12.0, abs=0.01)
    _, short = run_schedule(both(words + silence(10.0)), [Action(6.0, "pause")], end_s=14.0)
    assert short.dead_air == ()


@pytest.mark.parametrize(("name", "span"), [("dead_air", (18.0, 30.0)), ("clean", (20.0, 25.0)),
                                            ("talk_over", (7.0, 9.5))])
def test_the_audio_inside_a_pause_does_not_matter(name: str, span: tuple[float, float]) -> None:
    """A recording holds silence where it was paused: its analysis equals the live one's."""
    audio = fixture(name)
    whole = run_call(audio)
    live = run_call(audio, paused=[span])
    bps = 2 * audio.sample_rate
    a, b = round(span[0] * bps), round(span[1] * bps)
    muted = CallAudio(*(pcm[:a] + bytes(b - a) + pcm[b:] for pcm in (audio.customer, audio.agent)),
                      audio.sample_rate, audio.codec)
    assert run_call(muted, paused=[span]) == live
    assert live["paused"] == [{"start": span[0], "end": span[1]}]
    for leg in ("customer", "agent"):
        got = live["legs"][leg]["speech_segments"]
        assert_same_outside(got, whole["legs"][leg]["speech_segments"], *span)
        assert all(e <= span[0] or s >= span[1] for s, e in got)
    for key in ("dead_air", "talk_over"):
        assert_same_outside(live[key], whole[key], *span)


def test_offline_pauses_apply_at_their_frames() -> None:
    audio = fixture("talk_over")
    events: list[MetricEvent] = []
    summary = run_call(audio, events=events, paused=[(20.0, 25.0), (3.0, 7.5), (6.0, 9.0)])
    assert summary["paused"] == [{"start": 3.0, "end": 9.0}, {"start": 20.0, "end": 25.0}]
    _, result = run_schedule(audio, [Action(3.0, "pause"), Action(9.0, "unpause"),
                                     Action(20.0, "pause"), Action(25.0, "unpause")])
    assert summary == build_summary(result)
    samples = paused_samples(events)
    assert {s.t_s for s in samples} == {3.0, 4.0, 5.0, 6.0, 7.0, 8.0, *range(20, 25)}
    end = summary["duration_s"]
    tail = run_call(audio, paused=[(end - 2.0, end + 30.0)])
    assert tail["paused"] == [{"start": end - 2.0, "end": end}] and tail["paused_at_end"]
    assert tail["duration_s"] == end
    assert run_call(audio, paused=[(end + 1.0, end + 3.0)])["paused"] == []
    with pytest.raises(ValueError, match="start < end"):
        pause_spans([(5.0, 5.0)])
    with pytest.raises(ValueError, match="start < end"):
        pause_spans([(-1.0, 2.0)])


def test_fed_audio_is_dropped_while_paused_and_ticks_give_paused_samples() -> None:
    words = speech(*AGENT_3S8)
    call = CallAnalyzer(RATE)
    out = call.feed("agent", words[:2 * int(2.5 * RATE)], 0.0)
    out += call.feed("customer", silence(2.5), 0.0)
    out += call.pause(2.5)
    cut = [e for e in out if isinstance(e, LegSample)]
    assert [(s.leg, s.t_s, s.covered_s, s.paused) for s in cut[-2:]] == [
        ("customer", 2.0, 0.5, False), ("agent", 2.0, 0.5, False)]
    assert call.feed("agent", words, 2.5) == [] and call.frames_paused["agent"] == 190
    assert call.tick(2.9) == []  # the paused second [2.5, 3) is not over by 2.9 - 0.2
    ticked = call.tick(4.7)
    assert [(s.leg, s.t_s, s.covered_s) for s in ticked] == [  # type: ignore[union-attr]
        ("customer", 2.5, 0.5), ("agent", 2.5, 0.5), ("customer", 3.0, 1.0), ("agent", 3.0, 1.0)]
    speech_s = cut[-1].speech_s
    for s in ticked:
        assert isinstance(s, LegSample) and s.paused
        assert (s.rms_dbov, s.level_dbov_1s, s.active_level_dbov) == (None, None, None)
        assert (s.speech_fraction, s.clipped) == (0.0, 0)
    assert [s.speech_s for s in ticked if s.leg == "agent"] == [speech_s, speech_s]
    last = call.unpause(5.3)
    assert [(s.t_s, s.covered_s) for s in last] == [(4.0, 1.0), (4.0, 1.0), (5.0, 0.3),  # type: ignore[union-attr]
                                                    (5.0, 0.3)]
    after = call.feed("agent", words[:4 * RATE], 5.3) + call.feed("customer", silence(2.0), 5.3)
    assert [(s.leg, s.t_s, s.covered_s, s.paused) for s in after  # legs in lock-step
            if isinstance(s, LegSample)] == [
        ("customer", 5.3, 0.7, False), ("agent", 5.3, 0.7, False),
        ("customer", 6.0, 1.0, False), ("agent", 6.0, 1.0, False)]
    result = call.finish()
    assert result.pauses == ((2.5, 5.3),) and result.legs["agent"].segments[0][1] == 2.5
    assert call.legs["agent"].samples == int(4.5 * RATE)  # 2.5 s + 2 s: nothing of the pause


def test_each_legs_samples_tile_the_call() -> None:
    """Audio and paused samples of a leg never overlap, and leave out only gaps."""
    audio = both(speech(*AGENT_3S8) + silence(16.0))
    actions = [Action(2.3, "pause"), *(Action(2.3 + k * 0.25, "tick") for k in range(1, 20)),
               Action(7.1, "suspend"), Action(8.0, "resume"), Action(9.46, "tick"),
               Action(10.02, "unpause"), Action(14.5, "pause"), Action(17.0, "tick")]
    events, result = run_schedule(audio, actions, end_s=19.0, block_s=0.02)
    for leg in ("customer", "agent"):
        got = sorted((round(e.t_s, 3), round(e.t_s + e.covered_s, 3), e.paused) for e in events
                     if isinstance(e, LegSample) and e.leg == leg)
        assert [(s, e) for s, e, _ in got] == sorted(
            [(float(k), k + 1.0) for k in range(2)] + [(2.0, 2.3), (2.3, 3.0)]
            + [(float(k), k + 1.0) for k in range(3, 7)] + [(7.0, 7.1)]
            + [(8.0, 9.0), (9.0, 10.0), (10.0, 10.02), (10.02, 11.0)]
            + [(float(k), k + 1.0) for k in range(11, 14)] + [(14.0, 14.5), (14.5, 15.0)]
            + [(float(k), k + 1.0) for k in range(15, 19)])
        assert all(p == (2.3 <= s < 10.02 or s >= 14.5) for s, _, p in got)
    assert result.pauses == ((2.3, 10.02), (14.5, 19.0)) and result.gaps == ()


def test_a_gap_inside_a_pause_is_paused_and_a_pause_inside_a_gap_cuts_it() -> None:
    audio = both(speech(*AGENT_3S8) + silence(30.0))
    _, inner_gap = run_schedule(audio, [Action(5.0, "pause"), Action(10.0, "suspend"),
                                        Action(15.0, "resume"), Action(20.0, "unpause")])
    assert inner_gap.pauses == ((5.0, 20.0),) and inner_gap.gaps == ()
    assert build_summary(inner_gap)["partial"] is False
    events, inner_pause = run_schedule(audio, [
        Action(5.0, "suspend", "tap_failed"), Action(10.0, "pause"), Action(12.0, "tick"),
        Action(20.0, "unpause"), Action(25.0, "resume")])
    assert inner_pause.pauses == ((10.0, 20.0),)
    assert [(g.start_s, g.end_s, g.reason) for g in inner_pause.gaps] == [
        (5.0, 10.0, "tap_failed"), (20.0, 25.0, "tap_failed")]
    assert paused_samples(events) == []  # nothing listened: no paused sample either
    assert inner_pause.coverage == ((0.0, 5.0), (25.0, inner_pause.duration_s))
    _, open_at_end = run_schedule(audio, [Action(5.0, "pause"), Action(8.0, "suspend")],
                                  end_s=30.0)
    assert open_at_end.pauses == ((5.0, 30.0),) and open_at_end.gaps == ()
    assert open_at_end.paused_at_end


def test_pause_at_zero_repeated_pauses_and_idempotence() -> None:
    call = CallAnalyzer(RATE)
    assert call.unpause(1.0) == [] and not call.paused  # no pause: nothing happens
    assert call.pause(0.0) == [] and call.paused
    assert call.pause(3.0) == []  # already paused: the first pause holds
    call.unpause(2.0)
    call.unpause(2.5)
    for k in range(3):
        call.pause(4.0 + 2 * k)
        call.unpause(5.0 + 2 * k)
    result = call.finish(12.0)
    assert result.pauses == ((0.0, 2.0), (4.0, 5.0), (6.0, 7.0), (8.0, 9.0))
    assert not result.paused_at_end and result.duration_s == 9.0  # no audio after 9 s
    with pytest.raises(RuntimeError):
        call.pause(13.0)


def test_a_pause_running_to_the_end() -> None:
    call = CallAnalyzer(RATE)
    call.feed("customer", silence(3.0), 0.0)
    call.feed("agent", silence(3.0), 0.0)
    call.pause(3.0)
    call.tick(6.5)
    result = call.finish()  # no end given: where the paused samples end
    assert result.pauses == ((3.0, 6.0),) and result.paused_at_end
    assert result.coverage == ((0.0, 3.0),) and result.duration_s == 6.0
    whole = CallAnalyzer(RATE)
    whole.pause(0.0)
    result = whole.finish(8.0)
    assert result.coverage == () and result.pauses == ((0.0, 8.0),) and result.covered_s == 0
    s = build_summary(result)
    assert (s["covered_s"], s["paused_s"], s["partial"], s["silence_pct"]) == (0.0, 8.0, False,
                                                                               0.0)


def test_a_snapshot_during_a_pause() -> None:
    audio = both(speech(*AGENT_3S8) + silence(20.0))
    snaps: list[CallResult] = []

    def snap(call: CallAnalyzer, t_s: float) -> None:
        if t_s in (10.0, 14.0):
            snaps.append(call.snapshot(t_s))

    events, result = run_schedule(audio, [Action(8.0, "pause"), Action(12.0, "tick"),
                                          Action(15.0, "unpause")], on_block=snap)
    plain_events, plain = run_schedule(audio, [Action(8.0, "pause"), Action(12.0, "tick"),
                                               Action(15.0, "unpause")])
    assert events == plain_events and result == plain  # snapshots change nothing
    first, second = snaps
    assert first.pauses == ((8.0, 10.0),) and first.paused_at_end and first.duration_s == 10.0
    assert second.pauses == ((8.0, 14.0),) and build_summary(second)["paused_at_end"] is True
    assert first.events == [] and first.gaps == ()
    assert dataclasses.replace(result, events=[]).paused_at_end is False
    call = CallAnalyzer(RATE)
    call.pause(1.0)
    call.tick(3.5)
    assert call.snapshot().pauses == ((1.0, 3.0),)  # no time given: to the paused samples' end


def test_hold_is_cut_at_a_pause() -> None:
    pcm = speech(*AGENT_3S8) + silence(30.0)
    _, result = run_schedule(both(pcm), [
        Action(5.0, "hold_on"), Action(10.0, "pause"), Action(15.0, "hold_off"),
        Action(20.0, "unpause")])
    assert result.holds == ((5.0, 10.0),)
    assert [d.start_s for d in result.dead_air] == [20.0]


# -- property: random schedules --------------------------------------------------------------

KINDS = ("suspend", "resume", "pause", "unpause", "tick", "hold_on", "hold_off")


@st.composite
def schedules(draw: st.DrawFn) -> tuple[str, list[Action], float | None]:
    name = draw(st.sampled_from(["dead_air", "talk_over"]))
    frames = len(fixture(name).customer) // (2 * RATE // 50)
    actions = [Action(draw(st.integers(0, frames + 250)) / 50, draw(st.sampled_from(KINDS)),
                      draw(st.sampled_from(GAP_REASONS)))
               for _ in range(draw(st.integers(0, 12)))]
    end = draw(st.none() | st.integers(0, 400).map(lambda d: (frames + d) / 50))
    return name, actions, end


def expected_spans(actions: list[Action], end_s: float) -> tuple[list[tuple[float, float]],
                                                                  list[tuple[float, float]]]:
    """Paused spans and listed gap pieces (suspended and not paused) of a schedule."""
    paused_at: float | None = None
    gap_at: float | None = None
    pauses: list[tuple[float, float]] = []
    gaps: list[tuple[float, float]] = []

    def piece(start: float | None, end: float, into: list[tuple[float, float]]) -> None:
        if start is not None and end > start:
            into.append((start, end))

    for a in sorted(actions, key=lambda a: a.t_s):
        if a.kind == "pause" and paused_at is None:
            if gap_at is not None:
                piece(gap_at, a.t_s, gaps)
            paused_at = a.t_s
            if pauses and pauses[-1][1] == a.t_s:  # paused again where it ended: one pause
                paused_at = pauses.pop()[0]
        elif a.kind == "unpause" and paused_at is not None:
            piece(paused_at, a.t_s, pauses)
            paused_at = None
            if gap_at is not None:
                gap_at = a.t_s
        elif a.kind == "suspend" and gap_at is None:
            gap_at = a.t_s
        elif a.kind == "resume" and gap_at is not None:
            if paused_at is None:
                piece(gap_at, a.t_s, gaps)
            gap_at = None
    if paused_at is not None:  # listed even if empty: the result ends paused
        pauses.append((paused_at, max(paused_at, end_s)))
    elif gap_at is not None:
        piece(gap_at, max(gap_at, end_s), gaps)
    return pauses, gaps


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules())
def test_paused_time_holds_no_analysis_and_coverage_gaps_and_pauses_tile_the_call(
        case: tuple[str, list[Action], float | None]) -> None:
    name, actions, end_s = case
    events, result = run_schedule(fixture(name), actions, end_s=end_s)
    pauses, gaps = expected_spans(actions, result.duration_s)
    assert list(result.pauses) == pauses
    assert [(g.start_s, g.end_s) for g in result.gaps] == gaps
    listed = [*result.dead_air, *result.talk_over, *result.alerts]
    assert not inside(result.pauses, events) and not inside(result.pauses, listed)
    for sample in paused_samples(events):  # paused samples: inside pauses, of no audio
        assert any(a - EPS <= sample.t_s and sample.t_s + sample.covered_s <= b + EPS
                   for a, b in result.pauses), sample
        assert sample.rms_dbov is None and sample.speech_fraction == 0.0 and sample.clipped == 0
    pieces = sorted([*result.coverage, *((g.start_s, g.end_s) for g in result.gaps),
                     *result.pauses])
    at = 0.0
    for s, e in pieces:
        assert s == pytest.approx(at, abs=EPS) and e >= s
        at = e
    assert at == pytest.approx(result.duration_s, abs=EPS)
    summary = build_summary(result)
    assert summary["covered_s"] + summary["paused_s"] + sum(
        g["end"] - g["start"] for g in summary["gaps"]) == pytest.approx(result.duration_s,
                                                                       abs=2e-3)
    assert summary["partial"] is bool(gaps)
    for hold in result.holds:
        assert not any(hold[0] < b - EPS and hold[1] > a + EPS for a, b in result.pauses)
    for leg in result.legs.values():
        assert not any(s < b - EPS and e > a + EPS for s, e in leg.segments
                       for a, b in result.pauses)


def test_paused_again_where_a_pause_ended_is_one_pause() -> None:
    """An undone resume (its audit failed): the pause goes on, one interval."""
    call = CallAnalyzer(RATE)
    call.pause(2.0)
    call.tick(4.3)
    out = call.unpause(4.5) + call.pause(4.5)
    assert [(s.t_s, s.covered_s) for s in out] == [(4.0, 0.5), (4.0, 0.5)]  # type: ignore[union-attr]
    assert [(s.t_s, s.covered_s) for s in call.tick(6.3)][:2] == [(4.5, 0.5),  # type: ignore[union-attr]
                                                                 (4.5, 0.5)]
    call.unpause(7.0)
    call.pause(8.0)
    result = call.finish(9.0)
    assert result.pauses == ((2.0, 7.0), (8.0, 9.0)) and result.coverage == ((0.0, 2.0),
                                                                            (7.0, 8.0))
