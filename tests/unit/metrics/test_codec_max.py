"""The codec's maximum follows the audio (issue 12 item 2): a G.711 leg is judged against its
law's maximum (32124 µ-law, 32256 A-law) also when it reaches us as linear PCM16."""

from __future__ import annotations

import json
from array import array
from functools import cache
from typing import Any

import pytest

from edgeqa.analyze.offline import CallAudio, load_stereo, run_call
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.leg import LegAnalyzer
from edgeqa.metrics.reference import ALAW_TABLE, ULAW_TABLE
from tests.support.paths import CALLS, CALLS_HARD

RATE = 8000


@cache
def hot_truth() -> dict[str, Any]:
    return json.loads((CALLS_HARD / "hot_line.truth.json").read_text())  # type: ignore[no-any-return]


def assert_truth(got: dict[str, Any], audio: CallAudio, ratio: float) -> None:
    """The truth counts clipped samples over the whole file; edgeqa over its whole 20 ms
    frames (47 samples fewer here): the same clipped samples, a ratio 0.03 % apart."""
    n_file = len(audio.agent) // 2
    assert got["clipped"] == round(ratio * n_file)
    assert got["clip_ratio"] == pytest.approx(ratio, rel=1e-3)


def as_pcm16(audio: CallAudio) -> CallAudio:
    """The same decoded samples, handed over as linear PCM16 (a tap's slin, a phone's or
    MixMonitor's PCM16 recording of a G.711 call): the codec is no longer known."""
    return CallAudio(audio.customer, audio.agent, audio.sample_rate, "pcm16")


def test_hot_line_linear_clip_ratio_is_the_truth() -> None:
    audio = load_stereo(CALLS_HARD / "hot_line.wav")
    s = run_call(audio)
    agent = s["legs"]["agent"]
    assert_truth(agent, audio, hot_truth()["clip_ratio"]["agent"])
    assert agent["clip_events"] == hot_truth()["clip_events"]["agent"]
    assert agent["codec_max"] == 32767
    assert s["legs"]["customer"]["clip_ratio"] == 0.0


@pytest.mark.parametrize("delivered", ["ulaw", "pcm16"])
def test_hot_line_ulaw_clip_ratio_is_the_truth(delivered: str) -> None:
    """The µ-law file, and its samples delivered as PCM16: both against 32124."""
    audio = load_stereo(CALLS_HARD / "hot_line.ulaw.wav")
    s = run_call(audio if delivered == "ulaw" else as_pcm16(audio))
    agent = s["legs"]["agent"]
    assert_truth(agent, audio, hot_truth()["clip_ratio_ulaw"]["agent"])
    assert agent["clip_events"] == hot_truth()["clip_events_ulaw"]["agent"]
    assert agent["codec_max"] == 32124
    assert s["legs"]["customer"]["codec_max"] == 32124
    assert s["legs"]["customer"]["clip_ratio"] == 0.0


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_clipping_fixture_as_pcm16_equals_its_g711_file(law: str) -> None:
    audio = load_stereo(CALLS / f"clipping_noise.{law}.wav")
    known, detected = run_call(audio), run_call(as_pcm16(audio))
    for leg in ("customer", "agent"):
        assert detected["legs"][leg]["clipped"] == known["legs"][leg]["clipped"]
        assert detected["legs"][leg]["clip_events"] == known["legs"][leg]["clip_events"]
        assert detected["legs"][leg]["codec_max"] == known["legs"][leg]["codec_max"]
    assert known["legs"]["customer"]["clip_ratio"] > 0.1
    assert known["legs"]["customer"]["codec_max"] == (32124 if law == "ulaw" else 32256)


def test_a_codec_given_is_not_second_guessed() -> None:
    """The channel's codec, where we know it, decides: A-law samples on a µ-law leg."""
    la = LegAnalyzer("agent", RATE, "ulaw")
    _feed(la, (list(ALAW_TABLE) * 40)[:RATE])
    assert la.codec_max == 32124


def test_live_frames_equal_offline_blocks() -> None:
    """One 20 ms frame per feed (a live tap) finds the same law and clips as 10 s blocks."""
    audio = as_pcm16(load_stereo(CALLS_HARD / "hot_line.ulaw.wav"))
    whole = run_call(audio)
    call = CallAnalyzer(RATE, "pcm16")
    fb = 2 * RATE // 50
    for off in range(0, len(audio.agent) - fb + 1, fb):
        for leg in ("customer", "agent"):
            call.feed(leg, audio.pcm(leg, off, off + fb), off / (2 * RATE))
    live = call.finish(len(audio.agent) / (2 * RATE))
    assert live.legs["agent"].clipped == whole["legs"]["agent"]["clipped"]
    assert live.legs["agent"].codec_max == 32124


def _feed(la: LegAnalyzer, samples: list[int]) -> None:
    la.feed(array("h", samples).tobytes(), la.frames * la.frame_s)


def test_each_block_is_judged_by_its_own_samples() -> None:
    """Linear audio that touches ±32124 is linear (the value alone proves nothing); µ-law
    rails in a block of µ-law values count, before and after a linear block."""
    la = LegAnalyzer("agent", RATE)
    ulaw = [v for v in ULAW_TABLE if v and abs(v) < 30000]  # µ-law values off the rails
    _feed(la, [1001, 32124, -32124, 5] * 40)  # a linear frame on the µ-law rails
    assert la.clipped == 0
    _feed(la, [32124, -32124, *(ulaw * 2)[:158]])  # a µ-law frame on them
    assert la.clipped == 2
    _feed(la, [32767, 32500] + [3] * 158)  # linear full scale: clipped against 32767
    assert la.clipped == 4
    _feed(la, [32124] * 3 + (ulaw * 2)[:157])  # µ-law again
    assert la.clipped == 7 and la.clip_events == 1  # the one run of three


def test_packet_loss_concealment_leaves_a_ulaw_leg_ulaw() -> None:
    """A phone's recording of a µ-law call holds a few frames its packet-loss concealment
    made up (values off the table, seen in the sandbox): the rest is still judged as µ-law."""
    audio = as_pcm16(load_stereo(CALLS_HARD / "hot_line.ulaw.wav"))
    agent = array("h", audio.agent)
    at = int(3.05 * RATE)
    agent[at:at + 309] = array("h", [7, -14, 7, -14, 14, -34] * 52)[:309]
    s = run_call(CallAudio(audio.customer, agent.tobytes(), RATE, "pcm16"))
    assert s["legs"]["agent"]["codec_max"] == 32124
    assert_truth(s["legs"]["agent"], audio, hot_truth()["clip_ratio_ulaw"]["agent"])


def test_rails_before_the_evidence_still_count() -> None:
    """A µ-law leg that clips in its first frame: counted against 32124 from the start."""
    la = LegAnalyzer("agent", RATE)
    _feed(la, [32124, -32124, 32124] + [0] * 157)
    assert la.clipped == 3 and la.clip_events == 1
    assert la.codec_max == 32767  # not reported as µ-law on 3 samples...
    _feed(la, ([v for v in ULAW_TABLE if v] * 40)[:RATE])
    assert la.codec_max == 32124  # ...but after a second of them


def test_alaw_in_pcm16_and_silence() -> None:
    la = LegAnalyzer("agent", RATE)
    _feed(la, (list(ALAW_TABLE) * 40)[:RATE])
    assert la.codec_max == 32256
    quiet = LegAnalyzer("agent", RATE)
    _feed(quiet, [0] * RATE * 3)  # zeros prove no law
    assert quiet.codec_max == 32767 and quiet.clipped == 0


def test_linear_audio_is_linear() -> None:
    s = run_call(load_stereo(CALLS / "clipping_noise.wav"))
    assert {s["legs"][leg]["codec_max"] for leg in ("customer", "agent")} == {32767}
    truth = json.loads((CALLS / "clipping_noise.truth.json").read_text())
    assert s["legs"]["customer"]["clip_ratio"] == pytest.approx(
        truth["clip_ratio"]["customer"], abs=1e-4)
