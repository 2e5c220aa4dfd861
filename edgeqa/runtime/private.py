"""Files and directories that hold call data: created readable by the daemon's user only.

Outside systemd (whose UMask= the unit sets) the umask is often 022, which made the store
world-readable. The mode is given at creation (os.open / os.mkdir), never by changing the
process-wide umask, which other threads share.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

#: Mode of a file the daemon creates with call data in it (the store, its -wal and -shm).
PRIVATE_FILE_MODE = 0o600
#: Mode of a directory the daemon creates for such files.
PRIVATE_DIR_MODE = 0o700


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, each PRIVATE_DIR_MODE; leave existing ones."""
    missing: list[Path] = []
    for parent in (path, *path.parents):
        if parent.exists():
            break
        missing.append(parent)
    for directory in reversed(missing):
        # One made meanwhile by another process keeps its own mode.
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, PRIVATE_DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with PRIVATE_FILE_MODE unless it exists; warn if an existing one
    is open to group or others (an admin's choice: not changed)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s is open to group or others (mode %04o): chmod 600 %s to keep call "
                        "data private", path, mode, path)
        return
    os.close(fd)
