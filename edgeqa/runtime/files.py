"""Opening a file that must be a regular file, for every reader of files named from outside.

A FIFO, a device (``/dev/zero``), a socket or a directory is refused before any read: opened
with O_NONBLOCK, so a FIFO with no writer cannot hang the open, and checked with fstat, so a
symlink is judged by what it points to.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileProblem(Exception):
    """A file that cannot be used; the message says why in words (no traceback)."""


def open_regular(path: str | Path) -> tuple[int, os.stat_result]:
    """Open ``path`` read-only if it is a regular file (a FIFO, device, socket or directory
    is refused before any read) and return its descriptor and fstat; raise FileProblem."""
    if "\x00" in str(path):
        raise FileProblem(f"{str(path)!r}: a path cannot contain NUL")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileProblem(f"cannot read {path}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kinds = [kind for is_kind, kind in _KINDS if is_kind(info.st_mode)]
        raise FileProblem(f"{path} is {kinds[0]}, not a regular file" if kinds
                          else f"{path} is not a regular file")
    return fd, info


