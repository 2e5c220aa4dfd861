"""Pure retention policy: which recorded files are due for deletion at ``now``.

A row is due when it is closed (complete, missing or corrupt: never one still recording), its
call is not on legal hold, and its age (from its end, else its start) exceeds the retention of
its queue (the queue's own, else the global one; none: kept forever).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edgeqa.recording.config import RecordingConfig
from edgeqa.recording.model import CLOSED_STATES

DAY_S = 86_400.0
#: Files one run deletes at most; the rest wait for the next run.
MAX_FILES_PER_RUN = 1000


@dataclass(frozen=True, slots=True)
class Policy:
    """How many days a queue's recordings are kept (None: forever)."""

    days: float | None
    queue_days: Mapping[str, float]

    @classmethod
    def of(cls, cfg: RecordingConfig) -> Policy:
        """The policy [recording] configures."""
        return cls(cfg.retention_days, dict(cfg.queue_retention_days))

    @property
    def active(self) -> bool:
        """Whether anything is ever deleted."""
        return self.days is not None or bool(self.queue_days)

    def days_for(self, queue: str | None) -> tuple[float | None, str]:
        """The retention of ``queue``'s recordings and where it comes from (for the reason)."""
        if queue is not None and queue in self.queue_days:
            return self.queue_days[queue], f"queue {queue}"
        return self.days, "global"

    @property
    def shortest_days(self) -> float | None:
        """The shortest retention of any queue (a row younger than this is never due)."""
        all_days = [*self.queue_days.values(), *([self.days] if self.days is not None else [])]
        return min(all_days) if all_days else None


@dataclass(frozen=True, slots=True)
class Due:
    """A row whose file is to be deleted, and why."""

    row: Mapping[str, Any]
    reason: str


def _days_text(days: float) -> str:
    return f"{days:g} day" + ("" if days == 1 else "s")


def due(rows: Iterable[Mapping[str, Any]], policy: Policy, held: Collection[str], now: float,
        limit: int = MAX_FILES_PER_RUN) -> list[Due]:
    """The rows of ``rows`` due for deletion at wall time ``now`` (at most ``limit``, in the
    order given); ``held`` are the call ids on legal hold."""
    out: list[Due] = []
    for row in rows:
        if len(out) >= limit:
            break
        if row["state"] not in CLOSED_STATES or row["call_id"] in held:
            continue
        days, scope = policy.days_for(row.get("queue"))
        if days is None:
            continue
        ref = row["ended_at"] if row.get("ended_at") is not None else row["started_at"]
        if now - ref > days * DAY_S:
            out.append(Due(row, f"retention: older than {_days_text(days)} ({scope})"))
    return out
