"""CallAnalyzer.snapshot: the result so far, read without changing the analysis."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest

from edgeqa.analyze.offline import CallAudio, load_stereo
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.result import CallResult
from edgeqa.metrics.summary import build_summary
from tests.support.metrics_feed import Action, run_schedule
from tests.support.paths import CALLS

FIXTURES = ("clean", "dead_air", "talk_over", "levels", "clipping_noise")


@cache
def fixture(name: str) -> CallAudio:
    return load_stereo(CALLS / f"{name}.wav")


def _untruncated(summary: dict[str, Any]) -> dict[str, Any]:
    """The one documented difference: a silence open at the cut is truncated in a snapshot."""
    out = copy.deepcopy(summary)
    for entry in out["dead_air"]:
        entry["truncated"] = False
    return out


@pytest.mark.parametrize("name", FIXTURES)
def test_snapshots_during_a_call_leave_its_result_unchanged(name: str) -> None:
    audio = fixture(name)
    plain_events, plain = run_schedule(audio, block_s=0.3)
    taken: list[CallResult] = []
    events, result = run_schedule(audio, block_s=0.3,
                                  on_block=lambda call, _t: taken.append(call.snapshot()))
    assert len(taken) > 100
    assert events == plain_events
    assert result == plain
    assert build_summary(result) == build_summary(plain)


@pytest.mark.parametrize(("name", "cut_s"), [
    ("clean", 7.3), ("clean", 30.0), ("talk_over", 12.0), ("talk_over", 25.5),
    ("levels", 40.0), ("clipping_noise", 20.2), ("dead_air", 33.0), ("dead_air", 45.0)])
def test_a_snapshot_equals_the_call_finished_at_that_point(name: str, cut_s: float) -> None:
    audio = fixture(name)
    snaps: list[CallResult] = []

    def at_cut(call: CallAnalyzer, t_s: float) -> None:
        if t_s == pytest.approx(cut_s):
            snaps.append(call.snapshot())

    _, finished = run_schedule(audio, stop_s=cut_s, block_s=0.1, on_block=at_cut)
    (snap,) = snaps
    assert snap.events == [] and snap.duration_s == pytest.approx(cut_s)
    assert snap.coverage == ((0.0, snap.duration_s),) and snap.gaps == ()
    got, want = build_summary(snap), build_summary(finished)
    assert _untruncated(got) == _untruncated(want)
    # The checkpoint a stopping daemon takes (suspend, then finish there) is the same, exactly.
    _, stopped = run_schedule(audio, [Action(cut_s, "suspend", "daemon_restart")],
                              stop_s=cut_s, end_s=cut_s)
    assert got == build_summary(stopped)


def test_an_open_silence_is_reported_truncated() -> None:
    # dead_air.truth.json: mutual silence from 26.2 s to 39.3 s.
    snaps: list[CallResult] = []
    run_schedule(fixture("dead_air"), stop_s=33.0,
                 on_block=lambda call, t: snaps.append(call.snapshot()) if t == 33.0 else None)
    last = snaps[0].dead_air[-1]
    assert last.truncated and last.end_s == 33.0 and 26.0 < last.start_s < 26.8
    assert snaps[0].alerts[-1].type == "dead_air"  # the 5 s alert of that silence


def test_a_snapshot_inside_a_gap_runs_the_gap_to_its_time() -> None:
    audio = fixture("clean")
    call = CallAnalyzer(audio.sample_rate, audio.codec)
    taken: list[CallResult] = []

    def during_gap(c: CallAnalyzer, t_s: float) -> None:
        if t_s == 8.0:
            taken.append(c.snapshot(8.0))
            taken.append(c.snapshot())

    _, result = run_schedule(audio, [Action(5.0, "suspend"), Action(10.0, "resume")],
                             analyzer=call, on_block=during_gap)
    to_now, at_start = taken
    assert [(g.start_s, g.end_s, g.reason) for g in to_now.gaps] == [(5.0, 8.0, "pbx_outage")]
    assert to_now.coverage == ((0.0, 5.0),) and to_now.duration_s == 8.0
    assert at_start.gaps == () and at_start.duration_s == 5.0
    _, plain = run_schedule(audio, [Action(5.0, "suspend"), Action(10.0, "resume")])
    assert result == plain


def test_a_snapshot_of_a_finished_call_is_refused() -> None:
    call = CallAnalyzer(8000)
    call.finish()
    with pytest.raises(RuntimeError):
        call.snapshot()


def test_a_snapshot_with_frames_pending_changes_no_state() -> None:
    """Frames of both legs wait to be analysed together (one leg fed ahead): the snapshot
    analyses them on its copy; the call's echo-gate state, legs and queues stay as they were."""
    from tests.support.paths import CALLS_HARD

    audio = load_stereo(CALLS_HARD / "echo.wav")
    call = CallAnalyzer(audio.sample_rate, audio.codec)
    fb = 2 * audio.sample_rate // 50
    n = 3 * 50 + 7  # 3.14 s: the echo gate has learnt, and BATCH_FRAMES are not in
    call.feed("customer", audio.customer[:n * fb], 0.0)
    call.feed("agent", audio.agent[:(n - 5) * fb], 0.0)
    call.feed("agent", audio.agent[(n - 5) * fb:(n - 2) * fb], (n - 5) * 0.02)  # 3 wait
    before = (copy.deepcopy(call._echo), [(la.done, la.frames, la.queued, la._st.tolist(),
                                           la._seg.tolist()) for la in call.legs.values()])
    assert call.legs["customer"].queued > 0 and call.legs["agent"].queued > 0
    call.snapshot()
    after = (call._echo, [(la.done, la.frames, la.queued, la._st.tolist(), la._seg.tolist())
                          for la in call.legs.values()])
    assert after == before
