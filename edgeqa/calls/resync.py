"""What a resync has listed so far, so end_resync() can sweep everything else."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ResyncState:
    """Channels, queues, members and callers listed between begin_resync and end_resync."""

    started_at: float
    channels: set[str] = field(default_factory=set)
    queues: set[str] = field(default_factory=set)
    members: set[tuple[str, str]] = field(default_factory=set)
    callers: set[tuple[str, str]] = field(default_factory=set)


def parse_duration_s(value: str | None) -> float:
    """CoreShowChannel's ``Duration`` (``HH:MM:SS``, or seconds) -> seconds; 0 if unreadable."""
    if not value:
        return 0.0
    try:
        parts = [int(part) for part in value.split(":")]
    except ValueError:
        return 0.0
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return float(seconds)
