"""Digital silence is no line noise: it neither sets nor moves the noise floor.

Every phone recording starts with about 25 ms of zeros, and a lossy leg carries zeroed frames.
When a zero frame set the floor to -120, the floor took 25 s to climb back to the line's noise,
and meanwhile that noise passed the gate as speech (false segments, 2.9 s of false talk time on
dead_air_noise): live and offline then differed by the tap's first frame.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from edgeqa.analyze.offline import load_stereo, run_call
from tests.support.paths import CALLS
from tests.support.tones import write_stereo_wav

RATE = 8000


def _with_zeros(tmp_path: Path, name: str, lead: int, at_s: float | None = None) -> Path:
    with wave.open(str(CALLS / f"{name}.wav"), "rb") as src:
        both = np.frombuffer(src.readframes(src.getnframes()), "<i2").reshape(-1, 2).copy()
    if at_s is not None:  # zero 3 frames mid-call, in the noise between words
        start = int(at_s * RATE)
        both[start:start + 480] = 0
    both = np.vstack([np.zeros((lead, 2), np.int16), both])
    return write_stereo_wav(tmp_path / f"{name}.{lead}.wav", both, RATE)


@pytest.mark.parametrize("lead", [160, 480])
def test_leading_zeros_only_shift_the_segments(tmp_path: Path, lead: int) -> None:
    base = run_call(load_stereo(CALLS / "dead_air_noise.wav"))
    led = run_call(load_stereo(_with_zeros(tmp_path, "dead_air_noise", lead)))
    shift = lead / RATE
    for leg in ("customer", "agent"):
        want = [[a + shift, b + shift] for a, b in base["legs"][leg]["speech_segments"]]
        got = led["legs"][leg]["speech_segments"]
        assert len(got) == len(want), (leg, got, want)
        assert all(abs(g[0] - w[0]) <= 0.021 and abs(g[1] - w[1]) <= 0.021
                   for g, w in zip(got, want, strict=True)), (leg, got, want)
        assert led["legs"][leg]["talk_time_s"] == pytest.approx(
            base["legs"][leg]["talk_time_s"], abs=0.05)
        assert led["legs"][leg]["speech_level_dbov"] == pytest.approx(
            base["legs"][leg]["speech_level_dbov"], abs=0.1)


def test_zeroed_frames_mid_call_leave_the_floor(tmp_path: Path) -> None:
    """Three zeroed frames in the customer's noise at 2.0 s (a burst of packet loss)."""
    base = run_call(load_stereo(CALLS / "dead_air_noise.wav"))
    lossy = run_call(load_stereo(_with_zeros(tmp_path, "dead_air_noise", 0, at_s=2.0)))
    assert lossy["legs"]["customer"]["speech_segments"] == \
        base["legs"]["customer"]["speech_segments"]
    assert [d["start"] for d in lossy["dead_air"]] == [d["start"] for d in base["dead_air"]]
