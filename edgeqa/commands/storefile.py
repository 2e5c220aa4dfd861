"""Read the daemon's store file read-only from a CLI command (works while the daemon is down)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class StoreReadError(Exception):
    """The config or the store could not be read; ``exit_status`` is the command's status."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def query_store(config: str, what: str, query: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``query`` on the store named by ``config`` ([store] path), opened read-only.

    Raise StoreReadError (2: bad config, 1: unreadable store); ``what`` names the data read.
    """
    from edgeqa.config import ConfigError, load_config

    # Only [store] is needed: placeholder secrets spare reading the daemon's secret files.
    try:
        cfg = load_config(config, env={"EDGEQA_AMI_SECRET": "-", "EDGEQA_ARI_PASSWORD": "-"})
    except ConfigError as exc:
        raise StoreReadError(str(exc), 2) from exc
    path = cfg.store.path
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return query(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreReadError(f"cannot read {what} from {path}: {exc} (has `edgeqa run` of "
                             "this version opened it once?)", 1) from exc
