"""Blocking looks at recording files (run them in a thread): closed yet, size, sha256, header."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeqa.recording.model import WAV_HEADER_MAX_BYTES, WavCheck, check_wav

#: How often a closing file is looked at, and how many equal sizes in a row make it closed.
POLL_INTERVAL_S = 0.2
STABLE_POLLS = 2
#: Bytes hashed per read.
HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What a closed file holds: its size, its sha256 and what its header says."""

    size: int
    sha256: str
    check: WavCheck


def examine(path: Path, timeout_s: float, *, sleep: Callable[[float], None] | None = None,
            mono: Callable[[], float] | None = None) -> FileFacts | None:
    """Wait (at most ``timeout_s``) until ``path`` is closed, then return its facts; None if it
    never appeared. Blocking: run it in a thread.

    Closed: its WAV header checks (Asterisk writes the sizes on close) and its size did not
    change over STABLE_POLLS looks. After the timeout, what is there is judged as it is.
    """
    sleep = sleep or time.sleep
    mono = mono or time.monotonic
    deadline = mono() + timeout_s
    last, equal = -1, 0
    while True:
        try:
            size = os.stat(path).st_size
            with open(path, "rb") as f:
                head = f.read(WAV_HEADER_MAX_BYTES)
        except FileNotFoundError:
            size, head = -1, b""
        check = check_wav(head, size) if size >= 0 else None
        equal = equal + 1 if size == last else 0
        last = size
        closed = check is not None and check.state == "complete" and equal >= STABLE_POLLS - 1
        if closed or mono() >= deadline:
            break
        sleep(POLL_INTERVAL_S)
    if size < 0 or check is None:
        return None
    try:
        return FileFacts(size, sha256_of(path), check)
    except FileNotFoundError:  # removed while we looked
        return None


def sha256_of(path: Path) -> str:
    """The hex sha256 of the file at ``path`` (blocking: run it in a thread)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def free_space(path: Path) -> tuple[int, int]:
    """(bytes free to an unprivileged user such as Asterisk's, total bytes) of the filesystem
    holding ``path``, or its nearest existing parent (Asterisk creates the day directories).
    Blocking: run it in a thread."""
    for candidate in (path, *path.parents):
        try:
            usage = shutil.disk_usage(candidate)
        except FileNotFoundError:
            continue
        return usage.free, usage.total
    raise FileNotFoundError(f"no existing directory above {path}")
