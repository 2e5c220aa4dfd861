"""The realistic-condition fixtures (tests/data/calls_hard, README.md there) judged by the spec's
tolerances (spec/metrics.md v1.1): speech segments, dead air and talk-over, in every variant
(stereo PCM16, stereo µ-law, and the mono pair split from the stereo file).

The levels and the µ-law clip maximum are h12-level's (test_levels_hard / codecs); here the clip
ratio is checked on the linear files only, where codec_max is 32767 whatever the content.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from edgeqa.analyze.offline import load_pair, load_stereo, run_call
from tests.support.paths import CALLS_HARD, hard_legs
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
