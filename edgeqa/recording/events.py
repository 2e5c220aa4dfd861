"""What the recording capability publishes: recording.started/completed/failed/deleted (one
leg's row each) and recording.disk_low (the disk guard's alert)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from edgeqa.recording.model import LegName, State
from edgeqa.store import Event as StreamEvent

#: The stream event types this package produces, each with a schema in schemas/.
RECORDING_EVENT_TYPES = ("recording.started", "recording.completed", "recording.failed",
                         "recording.deleted", "recording.disk_low")


@dataclass(frozen=True, slots=True)
class Recording:
    """One leg's file as the store keeps it (the ``recordings`` table, one row per event)."""

    call_id: str
    leg: LegName
    path: str
    started_at: float
    queue: str | None = None
    agent: str | None = None
    ended_at: float | None = None
    codec: str | None = None
    size: int | None = None
    sha256: str | None = None
    state: State = "recording"
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON payload (schemas/recording.*.v1.json); also the store row's columns."""
        return {"call_id": self.call_id, "leg": self.leg, "path": self.path,
                "started_at": self.started_at, "queue": self.queue, "agent": self.agent,
                "ended_at": self.ended_at, "codec": self.codec, "size": self.size,
                "sha256": self.sha256, "state": self.state, "reason": self.reason}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Recording:
        """Rebuild one from a store row (or a payload)."""
        values: dict[str, Any] = {f.name: row.get(f.name) for f in fields(cls)}
        return cls(**values)


def event_for(rec: Recording, at: float) -> StreamEvent:
    """The stream event announcing ``rec`` in its current state, at wall time ``at``."""
    kind = {"recording": "started", "complete": "completed"}.get(rec.state, "failed")
    return StreamEvent(f"recording.{kind}", at, rec.to_dict())


def deleted_event(rec: Recording, at: float) -> StreamEvent:
    """recording.deleted: ``rec`` (state deleted, reason why) once its file was deleted at
    wall time ``at``."""
    return StreamEvent("recording.deleted", at, {**rec.to_dict(), "deleted_at": at})
