"""Levels: ITU-T P.56 method B active speech level (as G.191 sv-p56), and plain RMS levels.

``active_level_dbov`` is the standard's level over every sample of the leg, as the ITU-T G.191
``sv-p56`` speech voltmeter computes it (tools/sv56/sv-p56.c, speech_voltmeter and
bin_interp): the kernels keep the same activity counts per threshold (reference.py,
LS_HIST_ALL), and this module finds the level from them with sv-p56's own bisection, so the
two agree to a few hundredths of a dB (tests/unit/metrics/test_sv56.py runs the reference on
every fixture leg). P.56 counts steady noise well above its margin as activity, so a noisy
leg reads below its talker: that is the standard's meaning (spec v1.1). The talker's own
level is ``speech_level_dbov``: the RMS over the leg's speech frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from edgeqa.metrics.reference import P56_LEVELS

_FULL_SCALE_DB = 20.0 * math.log10(32768.0)
#: C_k in dBov for the thresholds c_k = 2**(k-1), k = 1..16 (index 0 unused).
_THRESHOLD_DB = [0.0] + [20.0 * math.log10(2.0 ** (k - 1)) - _FULL_SCALE_DB
                         for k in range(1, P56_LEVELS + 1)]
#: sv-p56 uses 15 thresholds, 2**-15 .. 0.5 of full scale (c_1 .. c_15 here).
SV56_THRESHOLDS = 15
#: sv-p56's bisection tolerance (dB) and its guard against log(0).
SV56_TOLERANCE_DB = 0.5
_MIN_LOG_OFFSET = 1.0e-20
#: Where bin_interp starts widening its tolerance (sv-p56: after 20 halvings).
_SV56_MAX_HALVINGS = 20


def envelope_k_q20(sample_rate: int, time_constant_s: float, step: int = 1) -> int:
    """Return (1 - g**step) in Q20 for the envelope g = exp(-1 / (rate * time constant))."""
    return round((1.0 - math.exp(-step / (sample_rate * time_constant_s))) * (1 << 20))


def envelope_shift(sample_rate: int) -> int:
    """Return log2 of the envelope step: 0.5 ms (4 samples at 8 kHz, 8 at 16 kHz)."""
    return (sample_rate // 2000).bit_length() - 1


def rms_dbov(sumsq: int, n: int) -> float:
    """Return 20*log10(RMS/32768), with -120 for digital silence."""
    if sumsq <= 0 or n <= 0:
        return -120.0
    return max(-120.0, 10.0 * math.log10(sumsq / n) - _FULL_SCALE_DB)


def speech_level_dbov(sumsq: int, n: int) -> float | None:
    """Return the RMS level (dBov) of ``n`` speech samples, or None without any."""
    if n <= 0:
        return None
    return rms_dbov(sumsq, n)


def _bin_interp(up_count: float, lw_count: float, up_thr: float, lw_thr: float,
                margin: float, tol: float) -> float:
    """sv-p56 bin_interp (v2.3): bisect between two (A_k, C_k) points to where A - C = margin."""
    if abs((up_count - up_thr) - margin) < tol:
        return up_count
    if abs((lw_count - lw_thr) - margin) < tol:
        return lw_count
    mid_count = (up_count + lw_count) / 2.0
    mid_thr = (up_thr + lw_thr) / 2.0
    halvings = 1
    while abs(diff := (mid_count - mid_thr) - margin) > tol:
        halvings += 1
        if halvings > _SV56_MAX_HALVINGS:
            tol *= 1.1
        if diff > tol:
            mid_count = (up_count + mid_count) / 2.0
            mid_thr = (up_thr + mid_thr) / 2.0
            lw_count, lw_thr = mid_count, mid_thr
        elif diff < -tol:
            mid_count = (mid_count + lw_count) / 2.0
            mid_thr = (mid_thr + lw_thr) / 2.0
            up_count, up_thr = mid_count, mid_thr
    return mid_count


def active_level_dbov(sumsq: int, hist: Sequence[int], margin_db: float) -> float | None:
    """Return the P.56 active level in dBov as sv-p56 computes it, or None for silence.

    ``hist[k]`` counts the samples whose highest active threshold (with hang-over) was
    c_k = 2**(k-1); the activity count a_k at c_k is the sum of hist[k:]. A_k = sumsq / a_k
    in dB; the level is where A_k - C_k falls to the margin, found by sv-p56's bisection
    between the two thresholds around it. None where sv-p56 reports silence (-100): no
    activity, or A_1 - C_1 already under the margin, or no crossing below c_15.
    """
    if sumsq <= 0:
        return None
    counts = [0] * (P56_LEVELS + 2)
    for k in range(P56_LEVELS, 0, -1):
        counts[k] = counts[k + 1] + hist[k]
    if counts[1] <= 0:
        return None
    ss = sumsq / float(1 << 30)  # sum of squares of samples normalized to +-1

    def a_db(k: int) -> float:
        return 10.0 * math.log10(ss / counts[k] + _MIN_LOG_OFFSET)

    if a_db(1) - _THRESHOLD_DB[1] < margin_db:
        return None
    for k in range(2, SV56_THRESHOLDS + 1):
        if counts[k]:
            a_k = a_db(k)
            if a_k - _THRESHOLD_DB[k] <= margin_db:
                return _bin_interp(a_k, a_db(k - 1), _THRESHOLD_DB[k], _THRESHOLD_DB[k - 1],
                                   margin_db, SV56_TOLERANCE_DB)
    return None


def active_samples(sumsq: int, level_dbov: float) -> float:
    """Return the active sample count behind a P.56 level: sumsq over the level's power."""
    return float(sumsq / 10.0 ** ((level_dbov + _FULL_SCALE_DB) / 10.0))
