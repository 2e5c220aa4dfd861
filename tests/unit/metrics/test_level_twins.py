"""Spec v1.1 level checks on twin recordings, and live = offline (issue 12 item 3).

- quiet_customer and quiet_customer_ref are the same call with the customer 12 dB apart: the
  speech level differs by the applied gain within 0.5 dB.
- µ-law against linear recordings of every fixture call: levels within 0.5 dB.
- What differs between a live tap and a recording, at the unit level: the audio arrives a
  frame at a time (or in any chunks), is snapshotted by fork (checkpoints), cut by gaps
  (suspend/resume), and the snoop tap delivers 16 kHz where the recording is 8 kHz.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from edgeqa.analyze.offline import CallAudio, load_pair, load_stereo, run_call
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.events import LegSample
from edgeqa.metrics.summary import build_summary
from tests.support.metrics_feed import Action, run_schedule
from tests.support.paths import CALLS, CALLS_HARD, hard_legs

LEGS = ("customer", "agent")
LEVELS = ("active_level_dbov", "speech_level_dbov")
TOLERANCE_DB = 0.5


@cache
def hard(name: str, variant: str = ".wav") -> dict[str, Any]:
    if variant == "pair":
        return run_call(load_pair(*hard_legs(name)))
    return run_call(load_stereo(CALLS_HARD / f"{name}{variant}"))


def gain(name: str, leg: str) -> float:
    truth = json.loads((CALLS_HARD / f"{name}.truth.json").read_text())
    return float(truth["applied_gain_db"][leg][0])


@pytest.mark.parametrize("variant", [".wav", ".ulaw.wav", "pair"])
def test_quiet_customer_speech_level_follows_the_gain(variant: str) -> None:
    quiet, ref = hard("quiet_customer", variant), hard("quiet_customer_ref", variant)
    want = gain("quiet_customer_ref", "customer") - gain("quiet_customer", "customer")
    assert want == pytest.approx(12.0)
    got = (ref["legs"]["customer"]["speech_level_dbov"]
           - quiet["legs"]["customer"]["speech_level_dbov"])
    assert got == pytest.approx(want, abs=TOLERANCE_DB)
    assert quiet["legs"]["customer"]["speech_level_dbov"] <= -36.0  # too_quiet territory
    assert [a["type"] for a in quiet["alerts"] if a["leg"] == "customer"] == ["too_quiet"]
    assert not [a for a in ref["alerts"] if a["type"] in ("too_quiet", "too_loud")]
    # The agent is the same in both.
    for key in LEVELS:
        assert quiet["legs"]["agent"][key] == ref["legs"]["agent"][key]


def test_quiet_customer_p56_reads_its_noise() -> None:
    """P.56 as is (spec v1.1): the -58 dBFS noise, 20 dB under the quiet talker, is activity
    for it, so the quiet twin's active level reads lower than the gain alone (sv-p56 gives
    the same: test_sv56); 12 dB louder, the noise is under its margin."""
    quiet, ref = hard("quiet_customer"), hard("quiet_customer_ref")
    got = ref["legs"]["customer"]["active_level_dbov"] - quiet["legs"]["customer"][
        "active_level_dbov"]
    assert 12.5 < got < 14.5


def _ulaw_pairs() -> list[tuple[str, str]]:
    calls = [("calls", p.name.removesuffix(".ulaw.wav")) for p in sorted(CALLS.glob("*.ulaw.wav"))]
    return calls + [("calls_hard", p.name.removesuffix(".ulaw.wav"))
                    for p in sorted(CALLS_HARD.glob("*.ulaw.wav"))]


@pytest.mark.parametrize(("where", "name"), _ulaw_pairs())
def test_ulaw_levels_equal_linear(where: str, name: str) -> None:
    base = CALLS if where == "calls" else CALLS_HARD
    lin, ulaw = (run_call(load_stereo(base / f"{name}{v}")) for v in (".wav", ".ulaw.wav"))
    for leg in LEGS:
        for key in LEVELS:
            assert ulaw["legs"][leg][key] == pytest.approx(lin["legs"][leg][key],
                                                           abs=TOLERANCE_DB), (leg, key)


def _frame_by_frame(audio: CallAudio, chunk_bytes: int) -> tuple[list[LegSample], dict[str, Any]]:
    call = CallAnalyzer(audio.sample_rate, audio.codec)
    bps = 2 * audio.sample_rate
    samples: list[LegSample] = []
    end = len(audio.customer)
    for off in range(0, end, chunk_bytes):
        for leg in LEGS:
            evs = call.feed(leg, audio.pcm(leg, off, min(end, off + chunk_bytes)), off / bps)
            samples += [e for e in evs if isinstance(e, LegSample)]
    result = call.finish(end / bps)
    samples += [e for e in result.events if isinstance(e, LegSample)]
    return samples, build_summary(result)


@pytest.mark.parametrize("chunk_bytes", [320, 642, 16000])
def test_live_chunks_give_the_offline_levels(chunk_bytes: int) -> None:
    """One 20 ms frame per feed (a live tap), odd chunks, or 10 s blocks (analyze): the
    levels, and every per-second sample, are the same."""
    audio = load_stereo(CALLS / "dead_air_noise.wav")
    offline = run_call(audio)
    samples, live = _frame_by_frame(audio, chunk_bytes)
    reference, _ = _frame_by_frame(audio, 320)
    for leg in LEGS:
        for key in LEVELS:
            assert live["legs"][leg][key] == offline["legs"][leg][key], (leg, key)
    assert samples == reference
    assert any(s.speech_level_dbov is not None for s in samples)


def test_a_fork_snapshot_has_the_levels_so_far_and_leaves_the_call_alone() -> None:
    """A checkpoint forks the analyzer mid-call and finishes the copy there."""
    audio = load_stereo(CALLS / "clean.wav")
    call = CallAnalyzer(audio.sample_rate, audio.codec)
    bps, cut, end = 2 * audio.sample_rate, 2 * audio.sample_rate * 20, len(audio.customer)

    def feed(start: int, stop: int) -> None:  # a second of each leg in turn, as taps deliver
        for off in range(start, stop, bps):
            for leg in LEGS:
                call.feed(leg, audio.pcm(leg, off, min(stop, off + bps)), off / bps)

    feed(0, cut)
    snap = build_summary(call.snapshot(20.0))
    head = run_call(CallAudio(audio.customer[:cut], audio.agent[:cut], audio.sample_rate,
                              audio.codec))
    feed(cut, end)
    whole = build_summary(call.finish(end / bps))
    offline = run_call(audio)
    for leg in LEGS:
        for key in LEVELS:
            assert snap["legs"][leg][key] == head["legs"][leg][key], (leg, key)
            assert whole["legs"][leg][key] == offline["legs"][leg][key], (leg, key)


def test_a_gap_keeps_the_levels_of_the_audio_heard() -> None:
    """A tap lost for 2 s (suspend, resume): both levels within 0.5 dB of the whole call's."""
    audio = load_stereo(CALLS / "talk_over.wav")
    _, result = run_schedule(audio, [Action(8.0, "suspend"), Action(10.0, "resume")])
    cut, whole = build_summary(result), run_call(audio)
    for leg in LEGS:
        for key in LEVELS:
            assert cut["legs"][leg][key] == pytest.approx(whole["legs"][leg][key],
                                                          abs=TOLERANCE_DB), (leg, key)


@pytest.mark.parametrize("name", ["dead_air_noise", "talk_over"])
def test_sixteen_khz_tap_equals_eight_khz_recording(name: str) -> None:
    """The snoop tap gives 16 kHz slin, the recording 8 kHz: the same levels within 0.5 dB."""
    k8, k16 = (run_call(load_stereo(CALLS / f"{name}{v}")) for v in (".wav", ".16k.wav"))
    for leg in LEGS:
        for key in LEVELS:
            assert k16["legs"][leg][key] == pytest.approx(k8["legs"][leg][key],
                                                          abs=TOLERANCE_DB), (leg, key)
