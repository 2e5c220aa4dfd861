"""What the store takes (any event with type/at/data) and gives back (events with a sequence)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

#: Version of the payload schemas; the envelope names ``<type>.v<N>`` as its ``schema``.
SCHEMA_VERSION = 1


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
    """A daemon event (lifecycle: daemon.*, asterisk.*, resync.*) before it is stored."""

    type: str
    at: float
    data: Mapping[str, Any]


def schema_name(event_type: str) -> str:
    """Return the payload schema name for ``event_type`` (``schemas/<name>.json``)."""
    return f"{event_type}.v{SCHEMA_VERSION}"


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
