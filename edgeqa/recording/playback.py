"""Stereo files for playback: built once per call (in a thread) into a bounded cache directory."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.recording.model import LEGS
from edgeqa.recording.stereo import ExportError, build_stereo, check_rows
from edgeqa.runtime.private import make_private_dirs

RowsOf = Callable[[str], Awaitable[Sequence[Mapping[str, Any]]]]

#: The cache's directory, next to the store (the daemon's own state directory).
STEREO_CACHE_DIR = "stereo-cache"
#: Named limits of the cache: files kept, and their total size.
CACHE_MAX_FILES = 64
CACHE_MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CacheLimits:
    """How much the stereo cache keeps; the least recently used files go first."""

    max_files: int = CACHE_MAX_FILES
    max_bytes: int = CACHE_MAX_BYTES


class StereoCache:
    """Builds and keeps each call's stereo WAV under ``directory``, within ``limits``.

    A cached file is named after the call and its legs' stored sha256s, so a row that changes
    gets a new file. The legs' hashes are checked when the file is built, not on every hit.
    """

    def __init__(self, rows_of: RowsOf, directory: Path, limits: CacheLimits = CacheLimits()
                 ) -> None:
        self._rows_of = rows_of
        self.directory = directory
        self.limits = limits
        #: One build at a time: a call asked for twice at once is built once.
        self._building = asyncio.Lock()

    async def stereo(self, call_id: str) -> Path:
        """The path of ``call_id``'s stereo WAV, built if not cached; ExportError if none."""
        rows = await self._rows_of(call_id)
        legs = check_rows(call_id, rows)
        tag = hashlib.sha256("".join(str(legs[leg]["sha256"]) for leg in LEGS).encode())
        path = self.directory / f"{call_id}-{tag.hexdigest()[:16]}.wav"
        async with self._building:
            if not await asyncio.to_thread(_touch, path):
                await asyncio.to_thread(self._build, call_id, rows, path)
        return path

    def _build(self, call_id: str, rows: Sequence[Mapping[str, Any]], path: Path) -> None:
        try:
            make_private_dirs(self.directory)  # call audio: 0700
        except OSError as exc:
            raise ExportError("output", f"cannot create {self.directory}: "
                                        f"{exc.strerror or exc}") from None
        build_stereo(call_id, rows, path)
        evict(self.directory, self.limits, keep=path)


def _touch(path: Path) -> bool:
    """Mark a cached file as just used; False if it is not there."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def evict(directory: Path, limits: CacheLimits, keep: Path) -> list[Path]:
    """Remove the least recently used ``*.wav`` files past ``limits`` (never ``keep``); return
    them. Blocking."""
    entries = []
    for p in directory.glob("*.wav"):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        entries.append((st.st_mtime, p, st.st_size))
    entries.sort(reverse=True)  # newest first
    total, kept, removed = 0, 0, []
    for _, p, size in entries:
        if p == keep or (kept < limits.max_files and total + size <= limits.max_bytes):
            total += size
            kept += 1
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed
