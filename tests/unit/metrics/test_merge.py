"""merge_summaries: a call analysed in two parts (a daemon restart) against the whole call."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from edgeqa.analyze.offline import CallAudio, load_stereo, run_call
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.summary import build_summary, merge_summaries
from tests.support.metrics_feed import Action, assert_same_outside, run_schedule
from tests.support.paths import CALLS

#: docs/metrics.md: merged levels against the whole call's (measured on these fixtures: 0.9 dB
#: for the P.56 level, pooled over the parts' active times; 0.05 dB for the speech level).
SPEECH_LEVEL_TOLERANCE_DB = 0.2
P56_LEVEL_TOLERANCE_DB = 1.0


@cache
def audio_of(name: str) -> CallAudio:
    return load_stereo(CALLS / f"{name}.wav")


def before_part(audio: CallAudio, stop_s: float) -> dict[str, Any]:
    """What a daemon stopping at ``stop_s`` checkpoints: suspend, then finish there."""
    _, result = run_schedule(audio, [Action(stop_s, "suspend", "daemon_restart")],
                             stop_s=stop_s, end_s=stop_s)
    return build_summary(result)


def after_part(audio: CallAudio, retap_s: float) -> dict[str, Any]:
    """What the restarted daemon sees: a new analyzer, a gap from 0, audio from ``retap_s``."""
    _, result = run_schedule(audio, [Action(0.0, "suspend", "daemon_restart"),
                                     Action(retap_s, "resume")], start_s=retap_s)
    return build_summary(result)


CASES = [("clean", 20.0), ("clean", 12.34), ("dead_air", 30.0), ("dead_air_noise", 20.0),
         ("talk_over", 15.9), ("levels", 5.0), ("clipping_noise", 5.0), ("talk_over.16k", 29.0)]


@pytest.mark.parametrize(("name", "cut"), CASES)
def test_a_call_cut_in_two_merges_to_the_whole_call(name: str, cut: float) -> None:
    audio = audio_of(name)
    whole = run_call(audio)
    before = before_part(audio, cut)
    assert before["coverage"] == [[0.0, cut]] and before["duration_s"] == cut
    merged = merge_summaries(before, after_part(audio, cut))
    duration = whole["duration_s"]
    assert merged["schema"] == "edgeqa.call_summary/4"
    assert merged["duration_s"] == duration
    assert merged["coverage"] == [[0.0, duration]] and merged["gaps"] == []
    assert merged["covered_s"] == duration and merged["partial"] is False
    for leg in ("customer", "agent"):
        w, m = whole["legs"][leg], merged["legs"][leg]
        assert_same_outside(m["speech_segments"], w["speech_segments"], cut, cut)
        assert m["talk_time_s"] == pytest.approx(w["talk_time_s"], abs=0.5)
        assert m["samples"] == w["samples"] and m["clipped"] == w["clipped"]
        assert m["clip_ratio"] == pytest.approx(w["clip_ratio"], abs=1e-6)
        assert abs(m["clip_events"] - w["clip_events"]) <= 1
        for key, tol in (("speech_level_dbov", SPEECH_LEVEL_TOLERANCE_DB),
                         ("active_level_dbov", P56_LEVEL_TOLERANCE_DB)):
            if w[key] is None:
                assert m[key] is None
            else:
                assert m[key] == pytest.approx(w[key], abs=tol), (leg, key)
    for key in ("dead_air", "talk_over"):
        assert_same_outside(merged[key], whole[key], cut, cut)
    assert merged["talk_over_summary"]["count"] == len(merged["talk_over"])


def test_the_restart_gap_is_kept() -> None:
    audio = audio_of("dead_air")
    merged = merge_summaries(before_part(audio, 18.0), after_part(audio, 30.0))
    assert merged["coverage"] == [[0.0, 18.0], [30.0, merged["duration_s"]]]
    assert merged["gaps"] == [{"start": 18.0, "end": 30.0, "reason": "daemon_restart"}]
    assert merged["covered_s"] == pytest.approx(merged["duration_s"] - 12.0)
    assert merged["partial"] is True
    dead = sum(d["duration_s"] for d in merged["dead_air"])
    assert merged["silence_pct"] == pytest.approx(100 * dead / merged["covered_s"], abs=0.01)
    for leg in ("customer", "agent"):
        assert not [s for s in merged["legs"][leg]["speech_segments"]
                    if s[0] < 30.0 and s[1] > 18.0]


def test_a_call_that_ended_while_the_daemon_was_down() -> None:
    """The after part is only a gap: suspend at 0 and finish at the call's real end."""
    audio = audio_of("clean")
    call = CallAnalyzer(audio.sample_rate)
    call.suspend(0.0, "daemon_restart")
    merged = merge_summaries(before_part(audio, 20.0), build_summary(call.finish(58.0)))
    assert merged["duration_s"] == 58.0
    assert merged["gaps"] == [{"start": 20.0, "end": 58.0, "reason": "daemon_restart"}]
    assert merged["legs"]["agent"]["speech_segments"] == \
        before_part(audio, 20.0)["legs"]["agent"]["speech_segments"]


def test_the_reason_of_a_gap_in_either_part_is_kept() -> None:
    audio = audio_of("clean")
    _, result = run_schedule(audio, [Action(5.0, "suspend", "pbx_outage"),
                                     Action(8.0, "resume"),
                                     Action(20.0, "suspend", "daemon_restart")],
                             stop_s=20.0, end_s=20.0)
    merged = merge_summaries(build_summary(result), after_part(audio, 25.0))
    assert [(g["start"], g["end"], g["reason"]) for g in merged["gaps"]] == [
        (5.0, 8.0, "pbx_outage"), (20.0, 25.0, "daemon_restart")]


def test_merge_refuses_overlap_and_other_schemas() -> None:
    audio = audio_of("clean")
    before = before_part(audio, 20.0)
    with pytest.raises(ValueError, match="both cover"):
        merge_summaries(before, after_part(audio, 10.0))
    with pytest.raises(ValueError, match="call_summary/3"):
        merge_summaries({**before, "schema": "edgeqa.call_summary/1"}, before)


def _without_pauses_v2(summary: dict[str, Any]) -> dict[str, Any]:
    """The /2 summary a previous version kept: no paused, paused_s, paused_at_end."""
    old = {k: v for k, v in summary.items() if not k.startswith("paused")}
    return {**old, "schema": "edgeqa.call_summary/2"}


def test_a_restart_during_a_pause_leaves_no_gap() -> None:
    """Checkpointed paused at 20 s, re-tapped at 30 s still paused, unpaused at 35 s."""
    audio = audio_of("clean")
    _, first = run_schedule(audio, [Action(12.0, "pause"),
                                    Action(20.0, "suspend", "daemon_restart")],
                            stop_s=20.0, end_s=20.0)
    before = build_summary(first)
    assert before["paused_at_end"] is True and before["paused"] == [{"start": 12.0, "end": 20.0}]
    _, second = run_schedule(audio, [Action(0.0, "suspend", "daemon_restart"),
                                     Action(20.0, "pause"), Action(30.0, "resume"),
                                     Action(35.0, "unpause")], start_s=30.0)
    after = build_summary(second)
    assert after["gaps"] == [{"start": 0.0, "end": 20.0, "reason": "daemon_restart"}]
    merged = merge_summaries(before, after)
    assert merged["paused"] == [{"start": 12.0, "end": 35.0}] and merged["paused_s"] == 23.0
    assert merged["gaps"] == [] and merged["partial"] is False
    assert merged["paused_at_end"] is False
    assert merged["coverage"] == [[0.0, 12.0], [35.0, merged["duration_s"]]]
    assert merged["covered_s"] == pytest.approx(merged["duration_s"] - 23.0)
    # The restarted run reaching further decides paused_at_end.
    call = CallAnalyzer(audio.sample_rate)
    call.suspend(0.0, "daemon_restart")
    call.pause(20.0)
    ended = merge_summaries(before, build_summary(call.finish(40.0)))
    assert ended["paused"] == [{"start": 12.0, "end": 40.0}] and ended["paused_at_end"] is True
    assert ended["gaps"] == [] and ended["duration_s"] == 40.0


def test_a_v2_checkpoint_merges_with_a_v3_part() -> None:
    audio = audio_of("dead_air")
    before = _without_pauses_v2(before_part(audio, 18.0))
    _, second = run_schedule(audio, [Action(0.0, "suspend", "daemon_restart"),
                                     Action(30.0, "resume"), Action(40.0, "pause"),
                                     Action(45.0, "unpause")], start_s=30.0)
    merged = merge_summaries(before, build_summary(second))
    assert merged["schema"] == "edgeqa.call_summary/4"
    assert merged["gaps"] == [{"start": 18.0, "end": 30.0, "reason": "daemon_restart"}]
    assert merged["paused"] == [{"start": 40.0, "end": 45.0}] and merged["partial"] is True


def _v3(summary: dict[str, Any]) -> dict[str, Any]:
    """The /3 summary a previous version checkpointed: its P.56 level over every sample was
    active_level_p56_all_dbov (active_level_dbov a gated one), and it had no speech level."""
    legs = {}
    for leg, data in summary["legs"].items():
        old = {k: v for k, v in data.items() if k not in ("speech_level_dbov", "codec_max")}
        legs[leg] = {**old, "active_level_dbov": -99.0, "active_s": 1.0,
                     "active_level_p56_all_dbov": data["active_level_dbov"],
                     "active_p56_all_s": data["active_s"]}
    return {**summary, "schema": "edgeqa.call_summary/3", "legs": legs}


def test_a_v3_checkpoint_merges_with_a_v4_part() -> None:
    """The /3 part's P.56 level is its active_level_p56_all_dbov; its speech level is not
    known, so the merged speech level is the /4 part's."""
    audio = audio_of("clean")
    before, after = before_part(audio, 20.0), after_part(audio, 20.0)
    want = merge_summaries(before, after)
    merged = merge_summaries(_v3(before), after)
    assert merged["schema"] == "edgeqa.call_summary/4"
    for leg in ("customer", "agent"):
        assert merged["legs"][leg]["active_level_dbov"] == want["legs"][leg]["active_level_dbov"]
        assert merged["legs"][leg]["speech_level_dbov"] == after["legs"][leg]["speech_level_dbov"]


def test_merge_refuses_a_pause_over_the_others_audio() -> None:
    audio = audio_of("clean")
    _, first = run_schedule(audio, [Action(12.0, "pause"),
                                    Action(20.0, "suspend", "daemon_restart")],
                            stop_s=20.0, end_s=20.0)
    with pytest.raises(ValueError, match="both cover"):
        merge_summaries(build_summary(first), after_part(audio, 15.0))
