"""ITU-T P.56 method B active speech level from the kernels' threshold histogram.

The leg's level is taken over its gate-passing frames (reference.py, LS_HIST): the faithful
P.56 puts its threshold 15.9 dB under the level, which on a line with steady noise is the
noise itself, and then reads up to 6 dB low. The same function computes both values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from edgeqa.metrics.reference import P56_LEVELS

_FULL_SCALE_DB = 20.0 * math.log10(32768.0)
#: C_k in dBov for the thresholds c_k = 2**(k-1), k = 1..16 (index 0 unused).
_THRESHOLD_DB = [0.0] + [20.0 * math.log10(2.0 ** (k - 1)) - _FULL_SCALE_DB
                         for k in range(1, P56_LEVELS + 1)]


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


def active_level_dbov(sumsq: int, hist: Sequence[int], margin_db: float) -> float | None:
    """Return the P.56 active level in dBov, or None when no sample was active.

    ``hist[k]`` counts the samples whose highest active threshold (with hang-over) was
    c_k = 2**(k-1); the activity count at c_k is the sum of hist[k:]. As in G.191 sv-p56, the
    level is where A_k - C_k falls to the margin, here interpolated exactly on the line between
    the two thresholds (sv-p56 bisects that line to within 0.5 dB).
    """
    if sumsq <= 0:
        return None
    count = sum(hist[1:P56_LEVELS + 1])
    ss_db = 10.0 * math.log10(sumsq) - _FULL_SCALE_DB
    log10 = math.log10
    prev_a = prev_delta = 0.0
    for k in range(1, P56_LEVELS + 1):
        if count <= 0:
            break
        a_db = ss_db - 10.0 * log10(count)
        delta = a_db - _THRESHOLD_DB[k]
        if k == 1 and delta < margin_db:
            return None  # below the margin at the lowest threshold: silence (sv-p56)
        if delta <= margin_db:
            frac = (prev_delta - margin_db) / (prev_delta - delta)
            return prev_a + (a_db - prev_a) * frac
        prev_a, prev_delta = a_db, delta
        count -= hist[k]
    return prev_a if prev_delta else None


def active_samples(sumsq: int, level_dbov: float) -> float:
    """Return the active sample count behind a P.56 level: sumsq over the level's power."""
    return float(sumsq / 10.0 ** ((level_dbov + _FULL_SCALE_DB) / 10.0))
