"""active_level_dbov against the ITU-T reference: G.191 sv-p56 (tools/sv56), compiled here.

Spec v1.1: edgeqa's active_level_dbov equals ``actlevel``'s on the same samples within 0.5 dB.
Every leg of every fixture call (tests/data/calls and calls_hard, every variant) is written as
raw 16-bit samples (decoded G.711 for the µ-law and A-law files: what the metrics analyse)
and measured by both.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from edgeqa.analyze.offline import open_pair, open_stereo, run_call
from tests.support.paths import CALLS, CALLS_HARD, REPO, hard_legs
from tests.support.unavailable import unavailable

SV56 = REPO / "tools" / "sv56"
TOLERANCE_DB = 0.5
_ACT_LEVEL = re.compile(r"ActLev\[dB\]:\s*(-?\d+\.\d+)")
#: sv-p56's value for a file it finds silent.
SV56_SILENCE = -100.0


@pytest.fixture(scope="module")
def actlevel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference's actlevel, built from tools/sv56 with the system's C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        unavailable("no C compiler to build the G.191 sv-p56 reference (tools/sv56)")
    assert cc is not None
    out = tmp_path_factory.mktemp("sv56") / "actlevel"
    sources = [str(SV56 / name) for name in ("actlevel.c", "sv-p56.c", "ugst-utl.c")]
    done = subprocess.run([cc, "-O2", "-w", "-o", str(out), *sources, "-lm"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out


def sv56_level(actlevel: Path, pcm: bytes, rate: int, scratch: Path) -> float | None:
    """actlevel's active level (dBov) of int16 LE ``pcm``; None where it reports silence."""
    raw = scratch / "leg.raw"
    raw.write_bytes(pcm)
    done = subprocess.run([str(actlevel), "-q", "-sf", str(rate), str(raw)],
                          capture_output=True, text=True, check=False)
    found = _ACT_LEVEL.search(done.stdout)
    assert found, done.stdout + done.stderr
    level = float(found.group(1))
    return None if level <= SV56_SILENCE else level


def _calls() -> list[str]:
    stereo = [p for p in sorted(CALLS.glob("*.wav"))
              if not p.name.endswith((".customer.wav", ".agent.wav"))]
    return ([f"calls/{p.name}" for p in stereo]
            + [f"calls_hard/{p.name}" for p in sorted(CALLS_HARD.glob("*.wav"))]
            + [f"calls/{p.name.removesuffix('.customer.wav')}:pair"
               for p in sorted(CALLS.glob("*.customer.wav"))]
            + [f"calls_hard/{p.name.removesuffix('.wav')}:pair"
               for p in sorted(CALLS_HARD.glob("*.wav")) if p.name.count(".") == 1])


@cache
def _open(case: str):  # type: ignore[no-untyped-def]
    where, name = case.split("/")
    if name.endswith(":pair"):
        stem = name.removesuffix(":pair")
        legs = hard_legs(stem) if where == "calls_hard" else (
            CALLS / f"{stem}.customer.wav", CALLS / f"{stem}.agent.wav")
        return open_pair(*legs).load()
    return open_stereo((CALLS if where == "calls" else CALLS_HARD) / name).load()


def test_every_fixture_variant_is_measured() -> None:
    cases = _calls()
    assert len(cases) >= 50 and any(":pair" in c for c in cases)
    assert any(c.endswith(".alaw.wav") for c in cases) and any("16k" in c for c in cases)


@pytest.mark.parametrize("case", _calls())
def test_active_level_equals_sv56(case: str, actlevel: Path, tmp_path: Path) -> None:
    audio = _open(case)
    summary = run_call(audio)
    for leg in ("customer", "agent"):
        pcm = bytes(audio.pcm(leg, 0, audio.pcm_length(leg)))
        want = sv56_level(actlevel, pcm, audio.sample_rate, tmp_path)
        got = summary["legs"][leg]["active_level_dbov"]
        if want is None:
            assert got is None, (leg, got)
        else:
            assert got is not None, leg
            assert abs(got - want) <= TOLERANCE_DB, (leg, got, want)
