"""`edgeqa analyze` against the inputs fuzzing found (issue 12, item 5): one clear line or a
warning, a meaningful exit status, and never a traceback."""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edgeqa.cli import main
from tests.support.paths import CALLS, REPO
from tests.support.unavailable import unavailable

CALLS = CALLS


def _wav(data: bytes, channels: int = 2) -> bytes:
    block = 2 * channels
    fmt = struct.pack("<HHIIHH", 1, channels, 8000, 8000 * block, block, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data))
    return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


def _edgeqa(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "edgeqa", "analyze", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def _limit_memory() -> None:
    # Code that reads /dev/zero whole must fail fast here, not fill the shared machine.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))


def test_a_device_is_refused_not_read() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "edgeqa", "analyze", "/dev/zero"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          preexec_fn=_limit_memory)
    assert done.returncode == 2
    assert done.stderr == ("edgeqa analyze: /dev/zero: /dev/zero is a character device, "
                           "not a regular file\n")


def test_a_fifo_is_refused_without_a_writer(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "call.wav"
    os.mkfifo(fifo)
    status: list[int] = []
    worker = threading.Thread(target=lambda: status.append(main(["analyze", str(fifo)])),
                              daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # the old code blocks in open(): unblock it so the test ends
        with open(fifo, "wb"):
            pass
        worker.join(10)
        pytest.fail("analyze blocked on a FIFO")
    assert status == [2]
    assert "is a FIFO, not a regular file" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--gate-abs-dbov", "inf", "need a number from -120.0 to 0.0"),
    ("--gate-abs-dbov", "nan", "need a number from -120.0 to 0.0"),
    ("--segment-bridge-ms", "9" * 30, "need an integer from 20 to 60000"),
    ("--dead-air-min-s", "1e308", "need a number from 0.02 to 3600.0"),
    ("--vad-mode", "7", "need an integer from 0 to 3"),
    ("--clip-alert-ratio", "-1", "need a number from 0.0 to 1.0"),
])
def test_out_of_range_options_get_one_line(option: str, value: str, message: str) -> None:
    done = _edgeqa(str(CALLS / "clean.wav"), option, value)
    assert done.returncode == 2
    assert f"argument {option}: {value!r}: {message}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("span", ["1-inf", "1e308-1e309", "nan-5", "5-1", "0-604801"])
def test_out_of_range_paused_spans_get_one_line(span: str) -> None:
    done = _edgeqa(str(CALLS / "clean.wav"), "--paused", span)
    assert done.returncode == 2
    assert (f"argument --paused: {span!r}: need START-END seconds, "
            "0 <= START < END <= 604800") in done.stderr
    assert "Traceback" not in done.stderr


def test_help_gives_units_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "segment_bridge_ms: milliseconds, 20 to 60000 (default 400)" in out
    assert "gate_abs_dbov: dBov, -120.0 to 0.0 (default -55.0)" in out
    assert "JSON Lines" in out


def test_an_existing_path_with_glob_characters_is_a_path(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "call[1].wav"
    shutil.copy(CALLS / "clean.wav", odd)
    assert main(["analyze", str(odd), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # one object, not a batch line
    assert "file" not in data and data["duration_s"] == 58.0


def test_a_closed_pipe_exits_141_without_a_traceback() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "edgeqa", "analyze", str(CALLS / "clean.wav"),
                             "--json"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the summary is written (`| head`)
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize("size", [1, 2, 3])
def test_a_data_chunk_without_a_whole_frame_is_an_error(
        size: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.wav"
    path.write_bytes(_wav(bytes(size)))
    assert main(["analyze", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"the data chunk holds {size} bytes, not one whole 4-byte sample frame" in captured.err


def test_an_unwritable_plot_keeps_the_summary_and_names_the_plot(tmp_path: Path) -> None:
    if importlib.util.find_spec("matplotlib") is None:  # `make setup` installs the plot extra
        unavailable("matplotlib (pip install 'edgeqa[plot]')")
    target = tmp_path / "missing" / "x.png"
    done = _edgeqa(str(CALLS / "clean.wav"), "--plot", str(target))
    assert done.returncode == 2
    assert done.stdout.startswith("duration 58.0 s")
    assert done.stderr == f"edgeqa analyze: cannot write the plot {target}: " \
                          "No such file or directory\n"


def test_a_directory_with_json_prints_json_lines(tmp_path: Path) -> None:
    for name in ("clean.wav", "talk_over.wav"):
        shutil.copy(CALLS / name, tmp_path / name)
    done = _edgeqa(str(tmp_path), "--json")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [Path(json.loads(line)["file"]).name for line in lines] == ["clean.wav",
                                                                       "talk_over.wav"]


def test_legs_of_different_lengths_warn_which_was_padded(
        capsys: pytest.CaptureFixture[str]) -> None:
    customer, agent = CALLS / "clean.customer.wav", CALLS / "dead_air.agent.wav"
    assert main(["analyze", "--customer", str(customer), "--agent", str(agent), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["duration_s"] == 58.0
    assert captured.err == (f"edgeqa analyze: warning: the agent leg ({agent}) is 2.200 s "
                            "shorter than the customer leg; it is padded with 2.200 s of "
                            "silence at the end\n")


def test_legs_of_equal_length_do_not_warn(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--customer", str(CALLS / "clean.customer.wav"),
                 "--agent", str(CALLS / "clean.agent.wav")]) == 0
    assert capsys.readouterr().err == ""
