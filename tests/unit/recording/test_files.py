"""Looking at a recording file: wait (bounded) for Asterisk to close it, then hash and check it."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from edgeqa.recording.files import POLL_INTERVAL_S, examine, free_space, sha256_of
from tests.unit.recording.wavs import closed_wav, open_wav


class Clock:
    """Time moves only when examine sleeps; ``on_sleep`` may change the file meanwhile."""

    def __init__(self, on_sleep: object = None) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def sleep(self, s: float) -> None:
        self.now += s
        self.sleeps += 1
        if callable(self.on_sleep):
            self.on_sleep(self.sleeps)

    def mono(self) -> float:
        return self.now


def test_a_closed_file_is_hashed_once_its_size_holds(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(closed_wav())
    clock = Clock()
    facts = examine(path, 10.0, sleep=clock.sleep, mono=clock.mono)
    assert facts is not None and facts.check.state == "complete"
    assert facts.sha256 == hashlib.sha256(closed_wav()).hexdigest() == sha256_of(path)
    assert facts.size == len(closed_wav())
    assert clock.sleeps == 1  # two equal looks


def test_it_waits_for_asterisk_to_close_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(open_wav(400))

    def asterisk(n: int) -> None:  # still growing, then closed
        if n == 2:
            path.write_bytes(open_wav(800))
        if n == 4:
            path.write_bytes(closed_wav(800))

    clock = Clock(asterisk)
    facts = examine(path, 10.0, sleep=clock.sleep, mono=clock.mono)
    # Closed at the 4th sleep, same size as before: done at the look right after it.
    assert facts is not None and facts.check.state == "complete" and clock.sleeps == 4


def test_the_wait_is_bounded_and_an_unclosed_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(open_wav())
    clock = Clock()
    facts = examine(path, 2.0, sleep=clock.sleep, mono=clock.mono)
    assert facts is not None and facts.check.state == "corrupt"
    assert clock.now <= 2.0 + POLL_INTERVAL_S


def test_a_file_that_never_appears_is_none(tmp_path: Path) -> None:
    clock = Clock()
    assert examine(tmp_path / "no.wav", 1.0, sleep=clock.sleep, mono=clock.mono) is None
    assert clock.now <= 1.0 + POLL_INTERVAL_S


def test_free_space_is_read_on_the_nearest_existing_directory(tmp_path: Path) -> None:
    free, total = free_space(tmp_path / "2024" / "12" / "01")  # not created yet
    usage = shutil.disk_usage(tmp_path)
    assert total == usage.total and 0 <= free <= total
    assert abs(free - usage.free) < 64 * 1024 * 1024  # the same filesystem, a moment apart
