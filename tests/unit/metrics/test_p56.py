"""P.56 active level on signals of known level, and G.711 against the standard's extremes."""

from __future__ import annotations

import math
import random
from array import array

import pytest

from edgeqa.metrics import kernels
from edgeqa.metrics.leg import LegAnalyzer
from edgeqa.metrics.level import active_level_dbov, envelope_k_q20, envelope_shift, rms_dbov

RATE = 8000


def sine(seconds: float, amp: float, freq: float = 1000.0) -> list[int]:
    n = int(seconds * RATE)
    return [round(amp * math.sin(2 * math.pi * freq * i / RATE)) for i in range(n)]


def level_of(samples: list[int], rate: int = RATE) -> float:
    leg = LegAnalyzer("customer", rate)
    leg.feed(array("h", samples).tobytes(), 0.0)
    level = leg.active_level_dbov()
    assert level is not None
    return level


def sine_dbov(amp: float) -> float:
    return 20 * math.log10(amp / math.sqrt(2) / 32768)


@pytest.mark.parametrize("amp", [16384.0, 1640.0, 520.0])
def test_continuous_sine_reads_its_rms(amp: float) -> None:
    assert level_of(sine(4.0, amp)) == pytest.approx(sine_dbov(amp), abs=0.2)


def test_nominal_level_speech_like_bursts() -> None:
    """1 s on / 1 s off at -26 dBov (nominal): P.56 counts each burst as active for its
    second, plus the envelope's fall to the threshold (tens of ms), plus the 0.2 s hang-over."""
    amp = 32768 * math.sqrt(2) * 10 ** (-26 / 20)
    burst = sine(1.0, amp, 440.0) + [0] * RATE
    level = level_of(burst * 5)
    assert -26.0 - 10 * math.log10(1.35) <= level <= -26.0 - 10 * math.log10(1.2)
    assert rms_dbov(sum(x * x for x in burst * 5), len(burst * 5)) < -28.5  # plain RMS is lower


def test_gain_difference_is_preserved() -> None:
    rng = random.Random(7)
    base = [round(rng.gauss(0, 2000) * (1 + math.sin(i / 800.0))) for i in range(RATE * 6)]
    quiet = [round(x * 10 ** (-12 / 20)) for x in base]
    assert level_of(base) - level_of(quiet) == pytest.approx(12.0, abs=0.2)


def test_sixteen_khz_matches_eight() -> None:
    s8 = level_of(sine(3.0, 4000.0, 440.0))
    s16 = [round(4000.0 * math.sin(2 * math.pi * 440.0 * i / 16000)) for i in range(48000)]
    assert level_of(s16, 16000) == pytest.approx(s8, abs=0.2)


def test_silence_has_no_level() -> None:
    assert active_level_dbov(0, [0] * 17, 15.9) is None
    leg = LegAnalyzer("customer", RATE)  # a click after silence: sv-p56 reads silence
    leg.feed(array("h", [0] * 1000 + [1000] + [0] * 8000).tobytes(), 0.0)
    assert leg.active_level_dbov() is None
    assert active_level_dbov(100, [0, 100] + [0] * 15, 15.9) is None  # under the margin


def test_envelope_coefficient() -> None:
    assert envelope_k_q20(8000, 0.03) == round((1 - math.exp(-1 / 240)) * 2**20)
    assert envelope_k_q20(8000, 0.03, 4) == round((1 - math.exp(-4 / 240)) * 2**20)
    assert (envelope_shift(8000), envelope_shift(16000)) == (2, 3)


def test_g711_extremes_and_symmetry() -> None:
    mu = array("h", kernels.ulaw_decode(bytes(range(256))))
    al = array("h", kernels.alaw_decode(bytes(range(256))))
    assert max(abs(x) for x in mu) == 32124
    assert max(abs(x) for x in al) == 32256
    assert sorted(mu[:128]) == sorted(-x for x in mu[128:])
    assert sorted(al[:128]) == sorted(-x for x in al[128:])
