"""Pure decoding of ARI WebSocket frames: text in, a typed event or a typed error out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Asterisk sends one event per text frame; a call's largest events (ChannelVarset with long
# values, StasisStart with args) stay well under 64 KiB.  Anything bigger is refused unread.
MAX_FRAME_BYTES = 1024 * 1024


class AriFrameError(ValueError):
    """A WebSocket frame that is not one ARI event (too large, non-JSON, not an object, no type)."""


@dataclass(frozen=True, slots=True)
class AriEvent:
    """One decoded ARI event: its ``type`` and the whole JSON object."""

    type: str
    body: Mapping[str, Any]

    @property
    def channel_id(self) -> str | None:
        """The ``channel.id`` of the event, or None if it names no channel."""
        channel = self.body.get("channel")
        if isinstance(channel, Mapping):
            value = channel.get("id")
            if isinstance(value, str):
                return value
        return None


def decode_frame(data: str | bytes, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> AriEvent:
    """Decode one text frame into an AriEvent; raise AriFrameError on anything else."""
    size = len(data.encode("utf-8", "replace") if isinstance(data, str) else data)
    if size > max_frame_bytes:
        raise AriFrameError(f"frame of {size} bytes exceeds {max_frame_bytes} bytes")
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AriFrameError(f"frame is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise AriFrameError(f"frame is a JSON {type(body).__name__}, not an object")
    event_type = body.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise AriFrameError("frame has no string 'type'")
    return AriEvent(type=event_type, body=body)


def event_filter_body(disallowed: tuple[str, ...]) -> dict[str, Any]:
    """The body of ``PUT /applications/{app}/eventFilter`` that drops the given event types."""
    return {"disallowed": [{"type": name} for name in disallowed]}
