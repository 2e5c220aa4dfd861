"""The realistic-condition fixtures (tests/data/calls_hard, README.md there) judged by the spec's
tolerances (spec/metrics.md v1.1): speech segments, dead air and talk-over, in every variant
(stereo PCM16, stereo µ-law, and the mono pair split from the stereo file).

The levels and the µ-law clip maximum are h12-level's (test_levels_hard / codecs); here the clip
ratio is checked on the linear files only, where codec_max is 32767 whatever the content.
"""

from __future__ import annotations

import json
import wave
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeqa.analyze.offline import load_pair, load_stereo, run_call
from tests.support.paths import CALLS_HARD, hard_legs
from tests.support.tones import write_stereo_wav
from tests.unit.analyze.test_fixtures import assert_segments_meet_truth

SCENARIOS = sorted(p.name[: -len(".truth.json")] for p in CALLS_HARD.glob("*.truth.json"))
VARIANTS = ("wav", "ulaw.wav", "pair")
BOUNDARY_S = 0.5


@cache
def truth(name: str) -> dict[str, Any]:
    return json.loads((CALLS_HARD / f"{name}.truth.json").read_text())  # type: ignore[no-any-return]


@cache
def summary(name: str, variant: str) -> dict[str, Any]:
    if variant == "pair":
        return run_call(load_pair(*hard_legs(name)))
    return run_call(load_stereo(CALLS_HARD / f"{name}.{variant}"))


CASES = [(name, variant) for name in SCENARIOS for variant in VARIANTS]


def _close(got: list[float], want: list[float]) -> bool:
    return abs(got[0] - want[0]) <= BOUNDARY_S and abs(got[1] - want[1]) <= BOUNDARY_S


def test_every_hard_fixture_is_judged() -> None:
    assert {"echo", "babble", "dtmf", "quiet_customer", "long", "hot_line"} <= set(SCENARIOS)


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_speech_segments(name: str, variant: str) -> None:
    assert_segments_meet_truth(summary(name, variant), truth(name))


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_dead_air(name: str, variant: str) -> None:
    s, t = summary(name, variant), truth(name)
    dead = [[d["start"], d["end"]] for d in s["dead_air"]]
    assert len(dead) == len(t["dead_air"]), dead
    for g, w in zip(dead, t["dead_air"], strict=True):
        assert _close(g, w), (g, w)
    assert s["duration_s"] == pytest.approx(t["duration_s"], abs=0.02)


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_talk_over(name: str, variant: str) -> None:
    s, t = summary(name, variant), truth(name)
    over = s["talk_over"]
    assert len(over) == len(t["talk_over"]), over
    for g, w in zip(over, t["talk_over"], strict=True):
        assert _close([g["start"], g["end"]], [w["start"], w["end"]]), (g, w)
        assert g["interrupter"] == w["interrupter"], (g, w)
    assert s["talk_over_summary"]["count"] == len(t["talk_over"])


@pytest.mark.parametrize("name", SCENARIOS)
def test_clip_ratio_on_the_linear_files(name: str) -> None:
    for variant in ("wav", "pair"):
        s, t = summary(name, variant), truth(name)
        for leg in ("customer", "agent"):
            want, got = t["clip_ratio"][leg], s["legs"][leg]["clip_ratio"]
            if want == 0:
                assert got == 0, (variant, leg, got)
            else:
                assert got == pytest.approx(want, rel=0.02), (variant, leg, got)


@pytest.mark.parametrize("gain_db", [0.0, 6.0])
def test_a_quiet_talker_over_a_loud_one_is_not_echo(tmp_path: Path, gain_db: float) -> None:
    """quiet_customer, with the customer's utterance at 17.2-21.4 s moved to 9.9 s, over the
    agent's 9.8-11.2 s: the customer (about 18 dB under the agent) talks over the agent on a
    line with no echo. That is a talk-over by the customer, not echo of the agent: the echo gate
    learns this line's echo loss (its noise, 40 dB under the agent) and keeps the customer."""
    rate = 8000
    with wave.open(str(CALLS_HARD / "quiet_customer.wav"), "rb") as src:
        both = np.frombuffer(src.readframes(src.getnframes()), "<i2").reshape(-1, 2).copy()
    customer = both[:, 0].astype(np.float64)
    words = customer[int(17.174 * rate):int(21.445 * rate)].copy()
    moved = customer.copy()
    moved[int(17.0 * rate):int(21.6 * rate)] = customer[int(12.5 * rate):int(17.1 * rate)]  # noise
    moved[int(9.9 * rate):int(9.9 * rate) + len(words)] = words * 10 ** (gain_db / 20)
    both[:, 0] = np.clip(moved, -32768, 32767).astype(np.int16)
    path = write_stereo_wav(tmp_path / "double_talk.wav", both, rate)
    s = run_call(load_stereo(path))
    segments = s["legs"]["customer"]["speech_segments"]
    assert len(segments) == 3 and _close(segments[1], [9.9, 14.2]), segments
    over = [(o["start"], o["end"], o["interrupter"]) for o in s["talk_over"]]
    assert len(over) == 1 and _close(list(over[0][:2]), [9.9, 11.17]), over
    assert over[0][2] == "customer"
