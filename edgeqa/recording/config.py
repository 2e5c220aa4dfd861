"""The [recording] section: which calls are recorded, and where the files are on both sides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True, slots=True)
class RecordingConfig:
    """Per-leg recording of queue calls: the policy and the directory as each side sees it.

    An empty ``queues``/``agents`` selects every queue/agent; ``exclude_*`` always win.
    ``asterisk_dir`` is where Asterisk writes (its own view, inside a chroot if any) and
    ``daemon_dir`` the same directory as the daemon sees it.
    """

    enabled: bool
    asterisk_dir: PurePosixPath
    daemon_dir: Path
    format: str = "wav"
    queues: tuple[str, ...] = ()
    exclude_queues: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    exclude_agents: tuple[str, ...] = ()
    #: After a call ends: how long to wait for Asterisk to close a file (MixMonitorStop, then
    #: the size stops changing) before hashing what is there.
    close_timeout_s: float = 10.0
    #: Retention: closed recordings older than this are deleted (None: kept forever), and
    #: per-queue overrides ((queue, days), ...); a call on legal hold is always kept.
    retention_days: float | None = None
    queue_retention_days: tuple[tuple[str, float], ...] = ()
    retention_interval_s: float = 3600.0
    #: Disk guard: no new recording starts while the free space of daemon_dir's filesystem is
    #: below min_free_mb or min_free_percent of its size (whichever is more); checked at each
    #: call and every disk_check_interval_s.
    min_free_mb: float = 1024.0
    min_free_percent: float = 0.0
    disk_check_interval_s: float = 30.0
