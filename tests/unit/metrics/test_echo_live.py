"""The echo, babble and tone fixtures (calls_hard) live: frames fed as taps would, with one leg
ahead of the other, through snapshots and a gap, give what `analyze` gives offline."""

from __future__ import annotations

from typing import Any

import pytest

from edgeqa.analyze.offline import CallAudio, load_stereo, run_call
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.summary import build_summary
from tests.support.paths import CALLS_HARD

HARD = ["echo", "babble", "dtmf"]


def _frames(audio: CallAudio, leg: str) -> list[bytes]:
    pcm = audio.customer if leg == "customer" else audio.agent
    fb = 2 * audio.sample_rate // 50
    return [pcm[off:off + fb] for off in range(0, len(pcm), fb)]


def feed_skewed(audio: CallAudio, lead: str, ahead_frames: int,
                snapshots: bool = False) -> dict[str, Any]:
    """Feed 20 ms frames, ``lead`` ``ahead_frames`` frames ahead of the other leg."""
    call = CallAnalyzer(audio.sample_rate, audio.codec)
    lag = "agent" if lead == "customer" else "customer"
    fl, fo = _frames(audio, lead), _frames(audio, lag)
    for i in range(max(len(fl), len(fo)) + ahead_frames):
        if i < len(fl):
            call.feed(lead, fl[i], i * 0.02)  # type: ignore[arg-type]
        j = i - ahead_frames
        if 0 <= j < len(fo):
            call.feed(lag, fo[j], j * 0.02)  # type: ignore[arg-type]
        if snapshots and i % 250 == 0:
            call.snapshot()  # a checkpoint: must change nothing
    return build_summary(call.finish())


@pytest.mark.parametrize("name", HARD)
@pytest.mark.parametrize(("lead", "ahead"), [("customer", 0), ("agent", 1), ("customer", 150),
                                             ("agent", 400)])
def test_live_equals_offline_with_a_leg_ahead(name: str, lead: str, ahead: int) -> None:
    audio = load_stereo(CALLS_HARD / f"{name}.wav")
    assert feed_skewed(audio, lead, ahead, snapshots=ahead == 150) == run_call(audio)


@pytest.mark.parametrize("name", HARD)
def test_a_leg_fed_in_odd_chunks_equals_offline(name: str) -> None:
    """Chunks of 7 and 13 frames, not aligned to seconds or to each other."""
    audio = load_stereo(CALLS_HARD / f"{name}.wav")
    call = CallAnalyzer(audio.sample_rate, audio.codec)
    fb = 2 * audio.sample_rate // 50
    pos = {"customer": 0, "agent": 0}
    size = {"customer": 7 * fb, "agent": 13 * fb}
    pcm = {"customer": audio.customer, "agent": audio.agent}
    while any(pos[leg] < len(pcm[leg]) for leg in pos):
        for leg in ("customer", "agent"):
            if pos[leg] < len(pcm[leg]):
                call.feed(leg, pcm[leg][pos[leg]:pos[leg] + size[leg]],  # type: ignore[arg-type]
                          pos[leg] / (2 * audio.sample_rate))
                pos[leg] += size[leg]
    assert build_summary(call.finish()) == run_call(audio)


def test_echo_decision_waits_for_the_other_leg() -> None:
    """The customer leg of `echo` alone is the agent's echo: while the agent's audio is not in,
    nothing of the customer's is decided; once it is, the echo is not speech."""
    audio = load_stereo(CALLS_HARD / "echo.wav")
    call = CallAnalyzer(audio.sample_rate, audio.codec)
    four_s = 4 * 2 * audio.sample_rate
    call.feed("customer", audio.customer[:four_s], 0.0)  # the agent talks 0.5-3.83: echo here
    assert call.legs["customer"].done == 0 and call.talk_time_s("customer") == 0
    call.feed("agent", audio.agent[:four_s], 0.0)
    assert call.legs["customer"].done == 200
    result = call.snapshot()
    assert result.legs["customer"].segments == ()
    assert len(result.legs["agent"].segments) == 1
    alone = CallAnalyzer(audio.sample_rate, audio.codec)  # the agent's leg silent: echo passes
    alone.feed("customer", audio.customer[:four_s], 0.0)
    alone.feed("agent", bytes(four_s), 0.0)
    assert len(alone.snapshot().legs["customer"].segments) == 1


def test_gap_then_resume_keeps_the_legs_in_step() -> None:
    audio = load_stereo(CALLS_HARD / "echo.wav")
    call = CallAnalyzer(audio.sample_rate, audio.codec)
    sec = 2 * audio.sample_rate
    call.feed("customer", audio.customer[:6 * sec], 0.0)
    call.feed("agent", audio.agent[:5 * sec], 0.0)  # the customer 1 s ahead when the gap starts
    call.suspend(6.0, "tap_failed")
    c, a = call.legs["customer"], call.legs["agent"]
    assert c.done == a.done == 300 and c.queued == a.queued == 0
    call.resume(9.0)
    call.feed("agent", audio.agent[9 * sec:], 9.0)
    call.feed("customer", audio.customer[9 * sec:], 9.0)
    result = call.finish()
    assert result.gaps[0].start_s == 6.0 and result.gaps[0].end_s == 9.0
    assert c.done == a.done and c.queued == a.queued == 0
    # After the gap: the customer's own words (truth 10.92-13.6, 15.91-18.05, 19.02-21.05);
    # the agent's echo (9.65-12.81, 14.5-17.64 on the agent's leg) makes no segment of its own.
    after = [s for s in result.legs["customer"].segments if s[0] >= 9.0]
    assert len(after) == 3, after


def test_a_taps_batch_is_analysed_as_one_block() -> None:
    """A tick's frames of one leg, then the other's: analysed when the legs are level (or
    BATCH_FRAMES are in), not frame by frame; the result is the same."""
    from edgeqa.metrics.call import BATCH_FRAMES

    audio = load_stereo(CALLS_HARD / "echo.wav")
    call = CallAnalyzer(audio.sample_rate, audio.codec)
    c, a = call.legs["customer"], call.legs["agent"]
    fc, fa = _frames(audio, "customer"), _frames(audio, "agent")
    for i in range(12):
        call.feed("customer", fc[i], i * 0.02)
    for i in range(BATCH_FRAMES - 1):
        call.feed("agent", fa[i], i * 0.02)
        assert c.done == a.done == 0
    call.feed("agent", fa[BATCH_FRAMES - 1], (BATCH_FRAMES - 1) * 0.02)
    assert c.done == a.done == BATCH_FRAMES
    call.feed("agent", fa[BATCH_FRAMES], BATCH_FRAMES * 0.02)
    assert c.done == BATCH_FRAMES
    call.feed("agent", fa[BATCH_FRAMES + 1], (BATCH_FRAMES + 1) * 0.02)
    assert c.done == a.done == 12  # level
    for start in range(12, len(fc), 12):
        for i in range(start, min(start + 12, len(fc))):
            call.feed("customer", fc[i], i * 0.02)
        for i in range(start, min(start + 12, len(fa))):
            call.feed("agent", fa[i], i * 0.02)
    assert build_summary(call.finish()) == run_call(audio)
