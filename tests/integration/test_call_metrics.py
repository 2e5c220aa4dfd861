"""Metrics of a real call through the PBX (µ-law, jitter, two phones) match the fixture's truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeqa.analyze.offline import load_pair, run_call
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.scenario import place_fixture_call
from tests.support.live import BOUNDARY_TOL_S, complete

pytestmark = pytest.mark.integration

#: Long enough for two of the talk_over fixture's three interruptions (15.4 s and 25.05 s).
TALK_S = 27.5
#: Levels through G.711 and the jitter buffer, against the linear original.
LEVEL_TOL_DB = 1.0



@pytest.fixture(scope="module")
def through_pbx(sandbox: Sandbox, data_dir: Path,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if sandbox.pid() is None:
        sandbox.start()
    out = tmp_path_factory.mktemp("call_metrics")
    result = place_fixture_call(sandbox, data_dir / "calls", out, fixture="talk_over",
                                talk_s=TALK_S)
    # The agent's phone heard the customer's leg; the customer's phone heard the agent's.
    return run_call(load_pair(result.agent_heard, result.customer_heard))


def test_talk_over_found_through_the_pbx(through_pbx: dict[str, Any], data_dir: Path) -> None:
    truth = json.loads((data_dir / "calls" / "talk_over.truth.json").read_text())
    end_s = through_pbx["duration_s"]
    expected = [(e["start"], e["end"], e["interrupter"]) for e in truth["talk_over"]
                if e["end"] <= end_s - 1.0]
    assert len(expected) == 2
    got = [(e["start"], e["end"], e["interrupter"]) for e in through_pbx["talk_over"]
           if e["end"] <= end_s - 1.0]
    assert len(got) == len(expected), through_pbx["talk_over"]
    for (gs, ge, gi), (ts, te, ti) in zip(got, expected, strict=True):
        assert abs(gs - ts) <= BOUNDARY_TOL_S and abs(ge - te) <= BOUNDARY_TOL_S, (gs, ge, ts, te)
        assert gi == ti
    assert through_pbx["dead_air"] == []


def test_segments_and_levels_match_the_original(through_pbx: dict[str, Any],
                                                data_dir: Path) -> None:
    truth = json.loads((data_dir / "calls" / "talk_over.truth.json").read_text())
    calls = data_dir / "calls"
    original = run_call(load_pair(calls / "talk_over.customer.wav", calls / "talk_over.agent.wav"))
    end_s = through_pbx["duration_s"]
    for leg in ("customer", "agent"):
        want = complete(truth["speech"][leg], end_s)
        got = complete(through_pbx["legs"][leg]["speech_segments"], end_s)
        assert len(got) == len(want), (leg, got, want)
        for (gs, ge), (ts, te) in zip(got, want, strict=True):
            assert abs(gs - ts) <= BOUNDARY_TOL_S and abs(ge - te) <= BOUNDARY_TOL_S, (leg, gs, ts)
        for key in ("active_level_dbov", "speech_level_dbov"):
            live_db = through_pbx["legs"][leg][key]
            orig_db = original["legs"][leg][key]
            assert abs(live_db - orig_db) <= LEVEL_TOL_DB, (leg, key, live_db, orig_db)
