"""What the store takes (any event with type/at/data) and gives back (events with a sequence)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

#: Default version of an event type's payload schema (``schemas/<type>.v<N>.json``).
SCHEMA_VERSION = 1
#: Event types whose payload changed, with their current version; every other type is at
#: SCHEMA_VERSION. A stored event keeps the ``schema`` it was written with, and the older
#: schema files stay, so a reader of old events can still check them.
SCHEMA_VERSIONS: dict[str, int] = {
    # v2: a call lists its "channels" (was "legs"); leg.* carry "leg": <role string> and
    # "channel": <the channel object> (v1 had "leg": <the channel object>).
    "call.started": 2, "call.updated": 2, "call.ended": 2,
    "leg.added": 2, "leg.updated": 2, "leg.removed": 2,
    # v2: "severity" apart from the alert type (call.alert types too_quiet/too_loud were
    # type "level"); call.dead_air "state" ongoing/ended/truncated; call.summary "partial".
    # v3: call.summary "source" (live, or recording: from the recorded legs), its summary
    # edgeqa.call_summary/3 (paused).
    # v4 (issue 12): call.summary's summary is edgeqa.call_summary/4 (speech_level_dbov).
    "call.dead_air": 2, "call.summary": 4,
    # v3: call.alert type pci_pause_long (a long PCI pause; at_s may be null).
    "call.alert": 3,
    # v2: leg.sample "covered_s" (a second cut by a gap holds less than 1 s of audio).
    # v3: leg.sample paused samples (PCI pause: rms_dbov null).
    # v4 (issue 12): leg.sample speech_level_dbov.
    "leg.sample": 4,
    # v2: recording.* "leg" may be a supervisor's voice (supervisor, supervisor.2...: issue 11).
    "recording.started": 2, "recording.completed": 2, "recording.failed": 2,
    "recording.deleted": 2,
}


class EventLike(Protocol):
    """An event before it is stored: a tracker or daemon event."""

    @property
    def type(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Event:
    """A stream event before it is stored: its type, when it happened (wall time), its payload.

    The tracker (call.*, leg.*, queue.*, agent.*), the live metrics and the daemon itself
    (daemon.*, asterisk.*, resync.*) all produce these; ``data`` is JSON-ready and follows
    ``schemas/<schema_name(type)>.json``.
    """

    type: str
    at: float
    data: Mapping[str, Any]


def schema_version(event_type: str) -> int:
    """Return the current payload schema version of ``event_type``."""
    return SCHEMA_VERSIONS.get(event_type, SCHEMA_VERSION)


def schema_name(event_type: str) -> str:
    """Return the payload schema name for ``event_type`` (``schemas/<name>.json``)."""
    return f"{event_type}.v{schema_version(event_type)}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The live metrics of a call still up, as far as they go: kept in the store, not streamed.

    ``summary`` is the edgeqa.call_summary/4 of the call from its answer up to call time
    ``covered_to_s`` (on the clock whose time 0 is the wall time ``started_at``); ``at`` is
    the wall time of that point (started_at + covered_to_s), a moment before it was taken.
    """

    call_id: str
    started_at: float
    covered_to_s: float
    summary: Mapping[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A committed event: its sequence number is durable and strictly increasing."""

    seq: int
    type: str
    at: float
    schema: str
    data_json: str

    @property
    def data(self) -> Any:
        """The payload, decoded from its stored JSON text."""
        return json.loads(self.data_json)

    def envelope(self) -> dict[str, Any]:
        """Return the envelope ``{seq, type, at, schema, data}`` (stream.envelope.v1)."""
        return {"seq": self.seq, "type": self.type, "at": self.at, "schema": self.schema,
                "data": self.data}

    def envelope_json(self) -> str:
        """Return the envelope as compact JSON text, reusing the stored payload text."""
        head = json.dumps({"seq": self.seq, "type": self.type, "at": self.at,
                           "schema": self.schema}, separators=(",", ":"))
        return f'{head[:-1]},"data":{self.data_json}}}'
