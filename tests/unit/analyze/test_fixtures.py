"""Every public fixture call judged by the spec's tolerances (spec/metrics.md)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from edgeqa.analyze.offline import load_pair, load_stereo, run_call
from tests.support.paths import CALLS

CALLS = CALLS
SCENARIOS = sorted(p.name[: -len(".truth.json")] for p in CALLS.glob("*.truth.json"))
BOUNDARY_S = 0.5


@cache
def truth(name: str) -> dict[str, Any]:
    return json.loads((CALLS / f"{name}.truth.json").read_text())  # type: ignore[no-any-return]


@cache
def summary(file: str) -> dict[str, Any]:
    if file.endswith(".pair"):
        stem = file[: -len(".pair")]
        return run_call(load_pair(CALLS / f"{stem}.customer.wav", CALLS / f"{stem}.agent.wav"))
    return run_call(load_stereo(CALLS / file))


def variants(name: str) -> list[str]:
    found = [f"{name}.wav", f"{name}.ulaw.wav", f"{name}.alaw.wav", f"{name}.pair"]
    return found + [p.name for p in CALLS.glob(f"{name}.16k.wav")]


CASES = [(name, file) for name in SCENARIOS for file in variants(name)]


def _close(got: list[float], want: list[float]) -> bool:
    return abs(got[0] - want[0]) <= BOUNDARY_S and abs(got[1] - want[1]) <= BOUNDARY_S


def test_every_fixture_is_judged() -> None:
    assert len(SCENARIOS) >= 6


def assert_segments_meet_truth(s: dict[str, Any], t: dict[str, Any]) -> None:
    """Each leg's speech segments: the truth's count, each boundary within BOUNDARY_S."""
    for leg in ("customer", "agent"):
        got = s["legs"][leg]["speech_segments"]
        want = t["speech"][leg]
        assert len(got) == len(want), (leg, got, want)
        for g, w in zip(got, want, strict=True):
            assert _close(g, w), (leg, g, w)


@pytest.mark.parametrize(("name", "file"), CASES)
def test_speech_segments(name: str, file: str) -> None:
    assert_segments_meet_truth(summary(file), truth(name))


@pytest.mark.parametrize(("name", "file"), CASES)
def test_dead_air_and_talk_over(name: str, file: str) -> None:
    s, t = summary(file), truth(name)
    dead = [[d["start"], d["end"]] for d in s["dead_air"]]
    assert len(dead) == len(t["dead_air"]), dead
    for g, w in zip(dead, t["dead_air"], strict=True):
        assert _close(g, w), (g, w)
        assert g[1] - g[0] >= 5.0
    over = s["talk_over"]
    assert len(over) == len(t["talk_over"]), over
    for g, w in zip(over, t["talk_over"], strict=True):
        assert _close([g["start"], g["end"]], [w["start"], w["end"]]), (g, w)
        assert g["interrupter"] == w["interrupter"]
    assert s["talk_over_summary"]["count"] == len(t["talk_over"])
    assert s["duration_s"] == pytest.approx(t["duration_s"], abs=0.02)


@pytest.mark.parametrize(("name", "file"), CASES)
def test_clipping_only_on_the_clipped_leg(name: str, file: str) -> None:
    s, t = summary(file), truth(name)
    for leg in ("customer", "agent"):
        want = t["clip_ratio"][leg]
        got = s["legs"][leg]["clip_ratio"]
        if want == 0:
            assert got == 0 and s["legs"][leg]["clip_events"] == 0
        else:
            assert got == pytest.approx(want, rel=0.02)
            assert s["legs"][leg]["clip_events"] > 0
    clip_alerts = {a["leg"] for a in s["alerts"] if a["type"] == "clipping"}
    assert clip_alerts == {leg for leg in ("customer", "agent") if t["clip_ratio"][leg] > 0}


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("codec", ["ulaw", "alaw", "pair"])
def test_codec_equals_linear(name: str, codec: str) -> None:
    """µ-law/A-law recordings of the same call: same events, levels within 0.5 dB."""
    lin, other = summary(f"{name}.wav"), summary(f"{name}.{codec}" if codec == "pair"
                                                   else f"{name}.{codec}.wav")
    assert len(lin["dead_air"]) == len(other["dead_air"])
    assert len(lin["talk_over"]) == len(other["talk_over"])
    for a, b in zip(lin["dead_air"] + lin["talk_over"], other["dead_air"] + other["talk_over"],
                    strict=True):
        assert abs(a["start"] - b["start"]) <= BOUNDARY_S
        assert abs(a["end"] - b["end"]) <= BOUNDARY_S
    for leg in ("customer", "agent"):
        assert other["legs"][leg]["active_level_dbov"] == pytest.approx(
            lin["legs"][leg]["active_level_dbov"], abs=0.5)


def test_level_delta_matches_applied_gain() -> None:
    """levels vs clean: the level difference is the applied gain difference, within 0.5 dB."""
    for file in ("{}.wav", "{}.ulaw.wav", "{}.alaw.wav"):
        lv, cl = summary(file.format("levels")), summary(file.format("clean"))
        for leg in ("customer", "agent"):
            applied = truth("levels")["applied_gain_db"][leg][0] - \
                truth("clean")["applied_gain_db"][leg][0]
            delta = lv["legs"][leg]["active_level_dbov"] - cl["legs"][leg]["active_level_dbov"]
            assert delta == pytest.approx(applied, abs=0.5), (file, leg)


def test_level_alerts_on_levels_fixture() -> None:
    s = summary("levels.wav")
    levels = {(a["leg"], a["type"], a["severity"]) for a in s["alerts"]
              if a["type"] in ("too_quiet", "too_loud")}
    assert ("agent", "too_quiet", "warn") in levels  # about -44 dBov
    assert not any(leg == "customer" for leg, _, _ in levels)  # about -20.7 dBov: neither


def test_noise_is_not_speech() -> None:
    """In the noisy fixtures (-45/-50 dBov line noise) the long silences stay silent."""
    for name in ("dead_air_noise", "clipping_noise"):
        s = summary(f"{name}.wav")
        for leg in ("customer", "agent"):
            talk = s["legs"][leg]["talk_time_s"]
            assert talk == pytest.approx(truth(name)["talk_time_s"][leg], abs=1.5)


@pytest.mark.parametrize("name", ["clean.wav", "dead_air.ulaw.wav", "talk_over.16k.wav",
                                  "levels.alaw.wav"])
def test_streaming_from_the_file_equals_the_call_in_memory(name: str) -> None:
    from edgeqa.analyze.offline import open_stereo

    assert run_call(open_stereo(CALLS / name)) == run_call(load_stereo(CALLS / name))
