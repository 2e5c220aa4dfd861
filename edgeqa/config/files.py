"""Reading the configuration file and secret files: regular files only, size-capped, UTF-8.

A FIFO, a device (``/dev/zero``) or a socket is refused before any read
(``edgeqa.runtime.files.open_regular``). Secret files must be private, as ssh requires of a key.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edgeqa.runtime.files import FileProblem, open_regular

#: Largest configuration file read (the documented example is ~3 KiB).
MAX_CONFIG_BYTES = 1024 * 1024
#: Largest secret file read (a secret is one line).
MAX_SECRET_BYTES = 4096
#: Permission bits a secret file must not have: any access by group or others (as ssh).
SECRET_FORBIDDEN_MODE = 0o077

__all__ = ["MAX_CONFIG_BYTES", "MAX_SECRET_BYTES", "SECRET_FORBIDDEN_MODE", "FileProblem",
           "read_text_file"]


def read_text_file(path: Path, *, max_bytes: int, private: bool = False) -> str:
    """Return the UTF-8 text of the regular file ``path`` (at most ``max_bytes``); with
    ``private``, refuse it unless only its owner may access it. Raise FileProblem."""
    fd, info = open_regular(path)
    try:
        mode = stat.S_IMODE(info.st_mode)
        if private and mode & SECRET_FORBIDDEN_MODE:
            raise FileProblem(
                f"{path} is readable or writable by group or others (mode {mode:04o}): "
                f"run chmod 600 {path}"
            )
        if info.st_size > max_bytes:
            raise FileProblem(f"{path} is {info.st_size} bytes, over the limit of {max_bytes}")
        data = b""
        try:
            while len(data) <= max_bytes:
                chunk = os.read(fd, max_bytes + 1 - len(data))
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            raise FileProblem(f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew since fstat
        raise FileProblem(f"{path} is over the limit of {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{path} is not UTF-8 text (byte {exc.start})") from None
