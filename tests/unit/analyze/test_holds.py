"""Offline hold: run_call(holds=...) reports hold spans as hold, not dead air, as live does.

The daemon's summaries from recordings pass the call's hold intervals this way.
"""

from __future__ import annotations

from edgeqa.analyze.offline import load_stereo, run_call
from tests.support.paths import CALLS


def test_a_silence_on_hold_is_hold_not_dead_air() -> None:
    audio = load_stereo(CALLS / "dead_air.wav")  # truth: dead air 26.174-39.3, 42.676-50.3
    plain = run_call(audio)
    assert len(plain["dead_air"]) == 2 and plain["hold"] == []
    held = run_call(audio, holds=[(26.0, 39.5)])
    assert [(h["start"], h["end"]) for h in held["hold"]] == [(26.0, 39.5)]
    assert len(held["dead_air"]) == 1 and held["dead_air"][0]["start"] >= 42.0
    # Overlapping spans (customer and agent both on hold) are one hold.
    assert run_call(audio, holds=[(30.0, 39.5), (26.0, 35.0)])["hold"] == held["hold"]
