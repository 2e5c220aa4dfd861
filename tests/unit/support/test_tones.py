"""The tone detector the spy acceptance tests measure audibility with (tests/support/tones.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tests.support import tones as t

RATE = t.RATE_HZ
ROLES = list(t.TONES)
MU = 255.0


def _ulaw(x: t.Samples) -> t.Samples:
    """A G.711-like trip: mu-law compand, 8-bit quantise, expand (what the phones' audio
    goes through on its way through Asterisk)."""
    v = np.clip(x / t.FULL_SCALE, -1.0, 1.0)
    y = np.sign(v) * np.log1p(MU * np.abs(v)) / np.log1p(MU)
    y = np.round(y * 127) / 127
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(MU)) / MU * t.FULL_SCALE


def _mix(roles: tuple[str, ...], seconds: float = 2.0, dbfs: float = t.PLAY_DBFS) -> t.Samples:
    out = np.zeros(int(seconds * RATE))
    for role in roles:
        out += t.sine(t.TONES[role], seconds, dbfs)
    return out


def test_a_pure_tone_reads_at_its_level_and_nothing_else() -> None:
    for role in ROLES:
        report = t.tones_in(_mix((role,)), RATE, 0.0, 2.0)
        assert report.heard() == {role}, report.describe()
        assert report.median_dbfs[role] == pytest.approx(t.PLAY_DBFS, abs=0.3)
        assert all(report.verdicts[r] == "absent" for r in ROLES if r != role)


@pytest.mark.parametrize("size", [2, 3, 5])
def test_every_mix_through_ulaw_reads_exactly_its_tones(size: int) -> None:
    rng = np.random.default_rng(size)
    for roles in itertools.combinations(ROLES, size):
        # Played at -12 dBFS each, mixed, through u-law, with line noise at -60 dBFS.
        mixed = _mix(roles) / (1 if size < 3 else size / 2)
        heard = _ulaw(mixed + rng.normal(0, t.FULL_SCALE * 10 ** (-60 / 20), mixed.size))
        report = t.tones_in(heard, RATE, 0.0, 2.0)
        assert report.heard() == set(roles), (roles, report.describe())
        assert {r for r, v in report.verdicts.items() if v == "absent"} == set(ROLES) - set(roles)


def test_a_faint_tone_is_unclear_not_absent() -> None:
    level = (t.PRESENT_DBFS + t.ABSENT_DBFS) / 2
    report = t.tones_in(_mix(("customer",)) + _mix(("supervisor",), dbfs=level), RATE, 0.0, 2.0)
    assert report.verdicts["supervisor"] == "unclear", report.describe()
    assert report.verdicts["customer"] == "present"


def test_a_tone_in_only_half_the_window_is_not_present() -> None:
    # A mode switch in the middle of a window must not pass as "heard throughout".
    half = np.concatenate([t.sine(t.TONES["supervisor"], 1.0), np.zeros(RATE)])
    report = t.tones_in(half, RATE, 0.0, 2.0)
    assert report.verdicts["supervisor"] == "unclear", report.describe()
    assert t.tones_in(half, RATE, 0.0, 1.0).verdicts["supervisor"] == "present"
    assert t.tones_in(half, RATE, 1.0, 2.0).verdicts["supervisor"] == "absent"


def test_a_tone_100_hz_off_is_not_taken_for_the_one_listened_for() -> None:
    near = t.sine(t.TONES["supervisor"] + 100.0, 2.0)
    assert t.tones_in(near, RATE, 0.0, 2.0).verdicts["supervisor"] == "absent"


def test_goertzel_equals_the_fft_on_bin_frequencies() -> None:
    rng = np.random.default_rng(1)
    blocks = rng.normal(0, 3000, (3, 1600))
    bins = [100, 155, 300]  # 5 Hz bins: 500, 775, 1500 Hz
    got = t.goertzel_dbfs(blocks, [b * RATE / 1600 for b in bins], RATE)
    window = np.hanning(1600)
    spectrum = np.abs(np.fft.rfft(blocks * window, axis=1))[:, bins]
    want = 20 * np.log10(2 * spectrum / window.sum() / t.FULL_SCALE)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_silence_is_absent_and_a_window_outside_the_recording_is_an_error() -> None:
    silent = np.zeros(2 * RATE)
    assert set(t.tones_in(silent, RATE, 0.0, 2.0).verdicts.values()) == {"absent"}
    with pytest.raises(ValueError, match="not inside the recording"):
        t.tones_in(silent, RATE, 1.0, 2.5)  # a missing stretch is never an absent tone
    with pytest.raises(ValueError, match="shorter than one block"):
        t.tones_in(silent, RATE, 1.0, 1.1)


def test_the_tones_stay_clear_of_each_others_products_and_of_dtmf() -> None:
    assert t.closest_product_hz(t.TONES.values()) >= t.MIN_PRODUCT_DISTANCE_HZ
    # ...a check that can fail: 880 Hz is the second harmonic of 440 Hz, 1209 Hz a DTMF tone.
    assert t.closest_product_hz([440.0, 880.0, 1150.0]) == 0.0
    assert t.closest_product_hz([1209.0]) == 0.0


def test_tone_wavs_loop_cleanly(tmp_path: Path) -> None:
    wavs = t.tone_wavs(tmp_path)
    assert set(wavs) == set(ROLES)
    for role, path in wavs.items():
        samples, rate = t.read_wav(path)
        assert rate == RATE and samples.size == int(t.WAV_S * RATE)
        looped = np.concatenate([samples[-RATE // 2:], samples[:RATE // 2]])
        report = t.tones_in(looped, RATE, 0.0, 1.0)
        assert report.heard() == {role}, report.describe()
        # No click at the seam: the tone's level holds across it.
        levels = t.block_levels(looped, RATE, 0.0, 1.0, [t.TONES[role]])
        assert np.ptp(levels) < 0.5


def test_onset_is_the_first_loud_10ms_block() -> None:
    quiet = np.full(RATE // 2, 3.0)  # line noise, far under the threshold
    heard = np.concatenate([quiet, t.sine(t.TONES["customer"], 0.5)])
    assert t.onset_s(heard, RATE) == pytest.approx(0.5, abs=0.011)
    assert t.onset_s(quiet, RATE) is None
    assert t.onset_s(heard, RATE, threshold_dbfs=0.0) is None  # -12 dBFS never gets there
