"""Spec v1.1 levels under line noise: the speech level keeps it out, P.56 (sv-p56) reads it."""

from __future__ import annotations

import json
import random
import statistics
from array import array
from functools import cache
from typing import Any

import pytest

from edgeqa.analyze.offline import load_stereo, run_call
from edgeqa.metrics.config import MetricsConfig
from edgeqa.metrics.events import LegSample
from edgeqa.metrics.leg import LegAnalyzer
from tests.support.paths import CALLS

CALLS = CALLS
LEGS = ("customer", "agent")
RATE = 8000


@cache
def truth(name: str) -> dict[str, Any]:
    return json.loads((CALLS / f"{name}.truth.json").read_text())  # type: ignore[no-any-return]


@cache
def summary(file: str) -> dict[str, Any]:
    return run_call(load_stereo(CALLS / file))


def gain_delta(a: str, b: str, leg: str) -> float:
    return float(truth(a)["applied_gain_db"][leg][0] - truth(b)["applied_gain_db"][leg][0])


@pytest.mark.parametrize("suffix", [".wav", ".ulaw.wav", ".alaw.wav"])
def test_dead_air_noise_level_equals_dead_air(suffix: str) -> None:
    """Same speech, same gains, plus -45 dBFS line noise: the speech level is within 0.5 dB
    of the gain delta, while P.56 (sv-p56) counts the noise as activity and reads low."""
    clean, noisy = summary(f"dead_air{suffix}"), summary(f"dead_air_noise{suffix}")
    assert truth("dead_air_noise")["noise_dbfs"] == -45
    for leg in LEGS:
        got = noisy["legs"][leg]["speech_level_dbov"] - clean["legs"][leg]["speech_level_dbov"]
        assert got == pytest.approx(gain_delta("dead_air_noise", "dead_air", leg), abs=0.5), leg
        p56 = noisy["legs"][leg]["active_level_dbov"]
        assert p56 < noisy["legs"][leg]["speech_level_dbov"] - 3.0, leg


def test_sixteen_khz_noisy_level_equals_eight_khz_clean() -> None:
    clean, noisy = summary("dead_air.wav"), summary("dead_air_noise.16k.wav")
    for leg in LEGS:
        assert noisy["legs"][leg]["speech_level_dbov"] == pytest.approx(
            clean["legs"][leg]["speech_level_dbov"], abs=0.5), leg


def test_clipping_noise_agent_level_equals_clean() -> None:
    """The agent leg of clipping_noise is unclipped speech plus -50 dBFS noise."""
    clean, noisy = summary("clean.wav"), summary("clipping_noise.wav")
    assert truth("clipping_noise")["clip_ratio"]["agent"] == 0.0
    got = noisy["legs"]["agent"]["speech_level_dbov"] - clean["legs"]["agent"]["speech_level_dbov"]
    assert got == pytest.approx(gain_delta("clipping_noise", "clean", "agent"), abs=0.5)


@pytest.mark.parametrize("name", ["clean", "dead_air", "levels", "talk_over"])
@pytest.mark.parametrize("suffix", [".wav", ".ulaw.wav"])
def test_clean_leg_speech_level_is_near_p56(name: str, suffix: str) -> None:
    """Spec v1.1: on a clean leg the speech level is within 1 dB of the P.56 active level."""
    s = summary(f"{name}{suffix}")
    for leg in LEGS:
        assert s["legs"][leg]["speech_level_dbov"] == pytest.approx(
            s["legs"][leg]["active_level_dbov"], abs=1.0), leg


#: Each leg of dead_air_noise has under 10 s of speech frames: judge the level after 5 s, as
#: the faithful P.56 did wrongly (customer too_quiet at -36.1 dBov, 40 s into the call).
EARLY = MetricsConfig(level_min_speech_s=5.0)


@pytest.mark.parametrize("suffix", [".wav", ".ulaw.wav", ".16k.wav"])
def test_no_too_quiet_on_line_noise(suffix: str) -> None:
    for config in (None, EARLY):
        s = run_call(load_stereo(CALLS / f"dead_air_noise{suffix}"), config)
        assert not [a for a in s["alerts"] if a["type"] in ("too_quiet", "too_loud")], config


def _leg_samples(file: str, leg: str) -> list[LegSample]:
    audio = load_stereo(CALLS / file)
    la = LegAnalyzer(leg, audio.sample_rate, audio.codec, EARLY)  # type: ignore[arg-type]
    pcm = audio.customer if leg == "customer" else audio.agent
    return [e for e in la.feed(pcm, 0.0) if isinstance(e, LegSample)]


@pytest.mark.parametrize("leg", LEGS)
def test_live_levels_robust_to_line_noise(leg: str) -> None:
    """level_dbov_1s and the running speech level that drives too_quiet: noisy equals clean."""
    clean, noisy = _leg_samples("dead_air.wav", leg), _leg_samples("dead_air_noise.wav", leg)
    diffs = [n.level_dbov_1s - c.level_dbov_1s for c, n in zip(clean, noisy, strict=True)
             if c.level_dbov_1s is not None and n.level_dbov_1s is not None]
    assert len(diffs) >= 8
    assert abs(statistics.median(diffs)) <= 0.5
    running = [(c.speech_level_dbov, n.speech_level_dbov)
               for c, n in zip(clean, noisy, strict=True)
               if c.speech_level_dbov is not None and n.speech_level_dbov is not None]
    assert len(running) >= 3
    for c_lvl, n_lvl in running:
        assert n_lvl == pytest.approx(c_lvl, abs=0.5)
        assert n_lvl > MetricsConfig().too_quiet_dbov


def _levels(pcm: bytes) -> tuple[float | None, float | None]:
    """(speech level, P.56 active level) of one leg."""
    la = LegAnalyzer("agent", RATE)
    la.feed(pcm, 0.0)
    la.finish()
    return la.speech_level_dbov(), la.active_level_dbov()


def test_noise_only_leg_has_no_speech_level() -> None:
    """Steady noise alone is no speech: no speech level, while P.56 reads the noise."""
    rng = random.Random(5)
    sigma = 32768 * 10 ** (-45 / 20)
    pcm = array("h", [round(rng.gauss(0.0, sigma)) for _ in range(5 * RATE)]).tobytes()
    speech, p56 = _levels(pcm)
    assert speech is None
    assert p56 is not None and p56 == pytest.approx(-45.0, abs=1.0)
