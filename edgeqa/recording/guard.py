"""Pure disk guard: is there room for a new recording on the recording directory's filesystem.

Low below the threshold (the larger of [recording] min_free_mb and min_free_percent of the
filesystem); ok again only once the free space is RECOVER_MARGIN above it, so that a disk
hovering at the threshold does not flap alerts. Time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgeqa.recording.config import RecordingConfig

GuardState = Literal["ok", "low"]
MIB = 1024 * 1024
#: Once low, the guard is ok again only with this fraction of the threshold free on top of it.
RECOVER_MARGIN = 0.05


@dataclass(frozen=True, slots=True)
class DiskChange:
    """The guard changed state at wall time ``at``: the payload of recording.disk_low."""

    state: GuardState
    free_bytes: int
    threshold_bytes: int
    at: float

    @property
    def severity(self) -> str:
        """``alert`` when recording stops, ``info`` when it resumes."""
        return "alert" if self.state == "low" else "info"

    def to_dict(self, path: str) -> dict[str, object]:
        """The recording.disk_low payload (schemas/recording.disk_low.v1.json)."""
        return {"state": self.state, "severity": self.severity, "free_bytes": self.free_bytes,
                "threshold_bytes": self.threshold_bytes, "path": path}


class DiskGuard:
    """Tracks the free space of one filesystem against the configured threshold."""

    def __init__(self, min_free_bytes: int, min_free_percent: float) -> None:
        self.min_free_bytes = min_free_bytes
        self.min_free_percent = min_free_percent
        self.state: GuardState = "ok"
        self.free_bytes: int | None = None
        self.total_bytes: int | None = None
        self.checked_at: float | None = None

    @classmethod
    def of(cls, cfg: RecordingConfig) -> DiskGuard:
        """The guard [recording] configures."""
        return cls(int(cfg.min_free_mb * MIB), cfg.min_free_percent)

    def threshold_bytes(self, total_bytes: int) -> int:
        """Free bytes below which no recording starts, on a filesystem of ``total_bytes``."""
        return max(self.min_free_bytes, int(total_bytes * self.min_free_percent / 100))

    def update(self, free_bytes: int, total_bytes: int, now: float) -> DiskChange | None:
        """Take a reading at wall time ``now``; return the change of state, if any."""
        self.free_bytes, self.total_bytes, self.checked_at = free_bytes, total_bytes, now
        threshold = self.threshold_bytes(total_bytes)
        if self.state == "ok" and free_bytes < threshold:
            self.state = "low"
        elif self.state == "low" and free_bytes >= threshold * (1 + RECOVER_MARGIN):
            self.state = "ok"
        else:
            return None
        return DiskChange(self.state, free_bytes, threshold, now)

    def health(self) -> dict[str, object]:
        """The guard's part of /v1/health."""
        total = self.total_bytes
        return {"state": self.state, "free_bytes": self.free_bytes,
                "threshold_bytes": self.threshold_bytes(total) if total is not None else None,
                "checked_at": self.checked_at}
