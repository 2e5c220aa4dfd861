"""`edgeqa export CALL --stereo OUT.wav`: the stereo file, or one line and exit 2."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edgeqa.analyze.wavfile import read_wav
from edgeqa.cli import main
from edgeqa.recording.model import State
from edgeqa.recording.stereo import interleave
from edgeqa.store import Store
from tests.unit.recording.calls import AGENT, CUSTOMER, leg_rows, store_rows

CALL = "1733012345.7"


def _setup(tmp_path: Path, states: tuple[State, State] = ("complete", "complete")) -> Path:
    rows = leg_rows(tmp_path, CALL, states=states)

    async def write() -> None:
        store = Store(tmp_path / "edgeqa.db")
        await store.open()
        try:
            await store_rows(store, rows)
        finally:
            await store.close()

    asyncio.run(write())
    conf = tmp_path / "edgeqa.toml"
    conf.write_text('[ami]\nsecret_file = "no-such-file"\n[store]\npath = "edgeqa.db"\n')
    return conf


def test_export_writes_customer_left_agent_right(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    conf = _setup(tmp_path)
    out = tmp_path / "out.wav"
    assert main(["export", CALL, "--stereo", str(out), "-c", str(conf)]) == 0
    assert read_wav(out).data == interleave(CUSTOMER, AGENT, 0, 80)
    assert "0.1 s stereo at 8000 Hz" in capsys.readouterr().err


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], want: str) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err and "Traceback" not in err, err
    assert want in err, err


def test_every_refusal_is_one_line_and_exit_2(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    conf = _setup(tmp_path)
    out = str(tmp_path / "out.wav")
    base = ["--stereo", out, "-c", str(conf)]
    _fails(capsys, ["export", "9.9", *base], "edgeqa: no recording of call 9.9 in the store")
    _fails(capsys, ["export", CALL, "--stereo", str(tmp_path / "nope" / "o.wav"), "-c",
                    str(conf)], f"edgeqa: cannot write {tmp_path}/nope/o.wav")
    leg = tmp_path / f"{CALL}-agent.wav"
    leg.write_bytes(leg.read_bytes()[:-2] + b"\x7f\x7f")
    _fails(capsys, ["export", CALL, *base], "the file changed since it was recorded")
    _fails(capsys, ["export", CALL, "--stereo", out, "-c", str(tmp_path / "none.toml")],
           "edgeqa: ")
    assert not Path(out).exists()


def test_a_call_still_recording_is_refused(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    conf = _setup(tmp_path, ("recording", "complete"))
    _fails(capsys, ["export", CALL, "--stereo", str(tmp_path / "o.wav"), "-c", str(conf)],
           f"edgeqa: call {CALL}: the customer leg is still recording")
