"""The active level is P.56 method B over the gate-passing frames: steady line noise stays out."""

from __future__ import annotations

import json
import math
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
    """Same speech, same gains, plus -45 dBFS line noise: levels within 0.5 dB of the gain delta."""
    clean, noisy = summary(f"dead_air{suffix}"), summary(f"dead_air_noise{suffix}")
    assert truth("dead_air_noise")["noise_dbfs"] == -45
    for leg in LEGS:
        got = noisy["legs"][leg]["active_level_dbov"] - clean["legs"][leg]["active_level_dbov"]
        assert got == pytest.approx(gain_delta("dead_air_noise", "dead_air", leg), abs=0.5), leg
        # The fixture does exercise the noise: the faithful, ungated P.56 reads it as speech.
        faithful = noisy["legs"][leg]["active_level_p56_all_dbov"]
        assert faithful < noisy["legs"][leg]["active_level_dbov"] - 3.0, leg


def test_sixteen_khz_noisy_level_equals_eight_khz_clean() -> None:
    clean, noisy = summary("dead_air.wav"), summary("dead_air_noise.16k.wav")
    for leg in LEGS:
        assert noisy["legs"][leg]["active_level_dbov"] == pytest.approx(
            clean["legs"][leg]["active_level_dbov"], abs=0.5), leg


def test_clipping_noise_agent_level_equals_clean() -> None:
    """The agent leg of clipping_noise is unclipped speech plus -50 dBFS noise."""
    clean, noisy = summary("clean.wav"), summary("clipping_noise.wav")
    assert truth("clipping_noise")["clip_ratio"]["agent"] == 0.0
    got = noisy["legs"]["agent"]["active_level_dbov"] - clean["legs"]["agent"]["active_level_dbov"]
    assert got == pytest.approx(gain_delta("clipping_noise", "clean", "agent"), abs=0.5)


@pytest.mark.parametrize("name", ["clean", "dead_air", "levels", "talk_over"])
def test_clean_audio_keeps_the_faithful_p56(name: str) -> None:
    """Digital silence between words: the gated level is the faithful P.56 within 0.2 dB."""
    s = summary(f"{name}.wav")
    for leg in LEGS:
        gated = s["legs"][leg]["active_level_dbov"]
        assert gated == pytest.approx(s["legs"][leg]["active_level_p56_all_dbov"], abs=0.2)


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
    """level_dbov_1s and the running level that drives too_quiet: noisy equals clean."""
    clean, noisy = _leg_samples("dead_air.wav", leg), _leg_samples("dead_air_noise.wav", leg)
    diffs = [n.level_dbov_1s - c.level_dbov_1s for c, n in zip(clean, noisy, strict=True)
             if c.level_dbov_1s is not None and n.level_dbov_1s is not None]
    assert len(diffs) >= 8
    assert abs(statistics.median(diffs)) <= 0.5
    running = [(c.active_level_dbov, n.active_level_dbov) for c, n in zip(clean, noisy, strict=True)
               if c.active_level_dbov is not None and n.active_level_dbov is not None]
    assert len(running) >= 3
    for c_lvl, n_lvl in running:
        assert n_lvl == pytest.approx(c_lvl, abs=0.5)
        assert n_lvl > MetricsConfig().too_quiet_dbov


def _bursts(seconds: int, noise_dbov: float | None, seed: int = 3) -> bytes:
    """Speech-like bursts (0.6 s of a -26 dBov 440 Hz tone every 3 s) plus white noise."""
    rng = random.Random(seed)
    amp = 32768 * math.sqrt(2) * 10 ** (-26 / 20)
    sigma = 0.0 if noise_dbov is None else 32768 * 10 ** (noise_dbov / 20)
    out = array("h")
    for i in range(seconds * RATE):
        on = (i % (3 * RATE)) < 4800
        x = amp * math.sin(2 * math.pi * 440 * i / RATE) if on else 0.0
        out.append(max(-32768, min(32767, round(x + rng.gauss(0.0, sigma)))))
    return out.tobytes()


def _levels(pcm: bytes) -> tuple[float | None, float | None]:
    la = LegAnalyzer("agent", RATE)
    la.feed(pcm, 0.0)
    return la.active_level_dbov(), la.active_level_p56_all_dbov()


@pytest.mark.parametrize(("noise_dbov", "faithful_drop_db"), [(-50.0, 0.0), (-45.0, 3.0),
                                                              (-40.0, 3.0)])
def test_synthetic_bursts_under_steady_noise(noise_dbov: float, faithful_drop_db: float) -> None:
    clean, clean_all = _levels(_bursts(12, None))
    noisy, noisy_all = _levels(_bursts(12, noise_dbov))
    assert clean is not None and clean_all is not None and noisy is not None
    assert noisy_all is not None
    assert clean == pytest.approx(clean_all, abs=0.2)
    assert noisy == pytest.approx(clean, abs=0.5)
    assert noisy_all <= clean - faithful_drop_db  # the faithful P.56 with the same noise


def test_noise_only_leg_has_no_speech_level() -> None:
    """Steady noise alone never passes the gate: no active level, while P.56 reads the noise."""
    rng = random.Random(5)
    sigma = 32768 * 10 ** (-45 / 20)
    pcm = array("h", [round(rng.gauss(0.0, sigma)) for _ in range(5 * RATE)]).tobytes()
    gated, faithful = _levels(pcm)
    assert gated is None
    assert faithful is not None and faithful == pytest.approx(-45.0, abs=1.0)


def test_hold_is_configurable_and_zero_hold_drops_the_tail() -> None:
    """Without the hold, the envelope's fall and hang-over after each burst no longer count."""
    pcm = _bursts(12, None)
    held, _ = _levels(pcm)
    la = LegAnalyzer("agent", RATE, config=MetricsConfig(level_gate_hold_ms=0))
    la.feed(pcm, 0.0)
    bare = la.active_level_dbov()
    assert held is not None and bare is not None
    assert bare > held + 0.3
    with pytest.raises(ValueError):
        MetricsConfig(level_gate_hold_ms=-20)
