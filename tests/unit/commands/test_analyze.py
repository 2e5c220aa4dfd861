"""`edgeqa analyze`: output contract, batches, plots and one clear line for each bad input."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from edgeqa.cli import main
from edgeqa.commands import analyze
from tests.support.paths import CALLS

CALLS = CALLS
KEYS = {"schema", "duration_s", "sample_rate", "codec", "legs", "talk_ratio", "dead_air",
        "silence_pct", "talk_over", "talk_over_summary", "alerts", "coverage", "gaps",
        "covered_s", "partial", "paused", "paused_s", "paused_at_end"}
LEG_KEYS = {"talk_time_s", "active_level_dbov", "speech_level_dbov", "clip_ratio",
            "clip_events", "longest_monologue_s", "speech_segments", "active_s", "samples",
            "clipped", "codec_max"}


def _wav(data: bytes, channels: int = 2, rate: int = 8000, declared: int | None = None) -> bytes:
    block = 2 * channels
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, 16)
    size = len(data) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size)
    return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "truncated": _wav(bytes(4000), declared=64000),
        "rate44k": _wav(bytes(4000), rate=44100),
        "three_channels": _wav(bytes(4800), channels=3),
        "empty": b"",
        "not_wav": b"ID3\x03 definitely an mp3",
    }
    out = {}
    for name, raw in files.items():
        path = tmp_path / f"{name}.wav"
        path.write_bytes(raw)
        out[name] = path
    return out


def test_json_output_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(CALLS / "talk_over.wav"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert KEYS <= data.keys()
    assert data["schema"] == "edgeqa.call_summary/4"
    assert data["coverage"] == [[0.0, data["duration_s"]]] and data["gaps"] == []
    assert data["partial"] is False and data["covered_s"] == data["duration_s"]
    assert data["codec"] == "pcm16" and data["sample_rate"] == 8000
    for leg in ("customer", "agent"):
        assert LEG_KEYS <= data["legs"][leg].keys()
    assert data["talk_over_summary"]["count"] == 3
    assert data["talk_over_summary"]["by_interrupter"]["customer"]["count"] == 3


def test_paused_spans(capsys: pytest.CaptureFixture[str]) -> None:
    """--paused: the call time paused for PCI (the recording holds silence there)."""
    path = str(CALLS / "dead_air.wav")
    assert main(["analyze", path, "--json", "--paused", "18-30", "--paused", "2.5-4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["paused"] == [{"start": 2.5, "end": 4.0}, {"start": 18.0, "end": 30.0}]
    assert data["paused_s"] == 13.5 and data["partial"] is False and data["gaps"] == []
    assert data["covered_s"] == pytest.approx(data["duration_s"] - 13.5)
    assert not [d for d in data["dead_air"] if d["start"] < 30.0 and d["end"] > 18.0]
    assert main(["analyze", path, "--paused", "18-30"]) == 0
    assert "paused    18.00-30.00 s" in capsys.readouterr().out
    for bad in ("30-18", "x-2", "5"):
        with pytest.raises(SystemExit):
            main(["analyze", path, "--paused", bad])
        assert "START-END" in capsys.readouterr().err
    assert main(["analyze", path, path.replace("dead_air", "clean"), "--paused", "1-2"]) == 2
    assert "single call" in capsys.readouterr().err


def test_alerts_carry_type_and_severity(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(CALLS / "levels.wav"), "--json"]) == 0
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    assert ("too_quiet", "warn", "agent") in {(a["type"], a["severity"], a["leg"])
                                             for a in alerts}
    assert main(["analyze", str(CALLS / "dead_air.wav")]) == 0
    assert "alert dead_air/warn at 36.1 s" in capsys.readouterr().out  # truth: 36.174


def test_two_mono_files_equal_stereo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(CALLS / "dead_air.wav"), "--json"]) == 0
    stereo = json.loads(capsys.readouterr().out)
    assert main(["analyze", "--customer", str(CALLS / "dead_air.customer.wav"),
                 "--agent", str(CALLS / "dead_air.agent.wav"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == stereo


def test_swapped_channels(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(CALLS / "levels.wav"), "--json",
                 "--customer-channel", "1", "--agent-channel", "0"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["legs"]["customer"]["active_level_dbov"] < -40  # the quiet agent's channel


def test_noisy_line_speech_level_and_p56(capsys: pytest.CaptureFixture[str]) -> None:
    """dead_air_noise is dead_air plus -45 dBFS noise: the speech level ignores it, P.56 not."""
    levels = {}
    for name in ("dead_air", "dead_air_noise"):
        assert main(["analyze", str(CALLS / f"{name}.wav"), "--json"]) == 0
        levels[name] = json.loads(capsys.readouterr().out)["legs"]
    for leg in ("customer", "agent"):
        noisy, clean = levels["dead_air_noise"][leg], levels["dead_air"][leg]
        assert noisy["speech_level_dbov"] == pytest.approx(clean["speech_level_dbov"], abs=0.5)
        assert noisy["active_level_dbov"] < noisy["speech_level_dbov"] - 3.0
    assert main(["analyze", str(CALLS / "dead_air_noise.wav")]) == 0
    out = capsys.readouterr().out
    assert "speech level -30.13 dBov (P.56 active -36.04)" in out


def test_threshold_override(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(CALLS / "clean.wav"), "--json", "--dead-air-min-s", "1.5"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["dead_air"]) > 3  # the clean call's 1.7-2.1 s pauses now count


@pytest.mark.parametrize("kind", ["truncated", "rate44k", "three_channels", "empty", "not_wav"])
def test_bad_input_exits_2_with_one_line(kind: str, bad_files: dict[str, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(bad_files[kind]), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeqa analyze: ")
    assert str(bad_files[kind]) in lines[0]


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(tmp_path / "nope.wav")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_batch_goes_on_and_exits_1(tmp_path: Path, bad_files: dict[str, Path],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(CALLS / "clean.wav", tmp_path / "a_clean.wav")
    shutil.copy(CALLS / "talk_over.ulaw.wav", tmp_path / "z_talk.wav")
    assert main(["analyze", str(tmp_path), "--json-lines"]) == 1
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [Path(r["file"]).name for r in rows] == ["a_clean.wav", "z_talk.wav"]
    assert rows[1]["codec"] == "ulaw" and rows[1]["talk_over_summary"]["count"] == 3
    errors = [ln for ln in captured.err.splitlines() if ln.startswith("edgeqa analyze:")]
    assert len(errors) == len(bad_files)
    assert "7/7" in captured.err  # the progress bar reached the end


def test_glob_and_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(CALLS / "dead_air.*.wav"), "--json-lines"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = sorted(r["file"].replace(str(CALLS) + "/", "") for r in rows)
    assert names == ["dead_air.alaw.wav", "dead_air.customer.wav + dead_air.agent.wav",
                     "dead_air.ulaw.wav"]


def test_expand_inputs_pairs_mono_legs() -> None:
    calls = analyze.expand_inputs([str(CALLS / "levels.customer.wav"),
                                   str(CALLS / "levels.agent.wav")])
    assert calls == [(str(CALLS / "levels.customer.wav"), str(CALLS / "levels.agent.wav"))]


def test_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "call.png"
    assert main(["analyze", str(CALLS / "dead_air.wav"), "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000
    assert "dead air" in capsys.readouterr().out


def test_text_shows_gaps_and_truncated_dead_air() -> None:
    from edgeqa.analyze.offline import load_stereo
    from edgeqa.metrics.summary import build_summary
    from tests.support.metrics_feed import Action, run_schedule

    audio = load_stereo(CALLS / "dead_air.wav")
    _, result = run_schedule(audio, [Action(35.0, "suspend", "pbx_outage")], end_s=55.8)
    text = analyze._text(build_summary(result))
    assert "dead air  26.12-35.00 s (8.9 s), truncated" in text
    assert "gap       35.00-55.80 s (pbx_outage)" in text
    assert "of 35.0 s covered" in text
