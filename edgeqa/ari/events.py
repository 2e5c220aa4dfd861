"""Pure decoding of ARI WebSocket frames: text in, a typed event or a typed error out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Asterisk sends one event per text frame; a call's largest events (ChannelVarset with long
# values, StasisStart with args) stay well under 64 KiB.  Anything bigger is refused unread.
MAX_FRAME_BYTES = 1024 * 1024
#: Deepest nesting of JSON arrays and objects in a frame or a REST answer. ARI's events nest 4
#: levels (event > channel > caller > name); Python's json parser recurses once per level, so
#: 1,000 levels raised RecursionError, which nothing caught.
MAX_JSON_DEPTH = 32


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


def load_json(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(data)``; raise AriFrameError (its message reads after "frame" or "answer")
    if it is not JSON or nests deeper than ``max_depth``; never RecursionError."""
    try:
        value = json.loads(data)
    except RecursionError:
        value = None
    except (ValueError, UnicodeDecodeError) as exc:
        raise AriFrameError(f"is not JSON: {exc}") from None
    else:
        # Nesting needs an opening bracket per level: one count in C clears nearly every frame.
        brackets = (data.count("[") + data.count("{") if isinstance(data, str)
                    else data.count(b"[") + data.count(b"{"))
        if brackets <= max_depth or not _deeper_than(value, max_depth):
            return value
    raise AriFrameError(f"nests deeper than {max_depth} levels (MAX_JSON_DEPTH)")


def _deeper_than(value: Any, max_depth: int) -> bool:
    """True if arrays and objects nest more than ``max_depth`` levels in ``value`` (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def decode_frame(data: str | bytes, *, max_frame_bytes: int = MAX_FRAME_BYTES) -> AriEvent:
    """Decode one text frame into an AriEvent; raise AriFrameError on anything else."""
    size = len(data.encode("utf-8", "replace") if isinstance(data, str) else data)
    if size > max_frame_bytes:
        raise AriFrameError(f"frame of {size} bytes exceeds {max_frame_bytes} bytes")
    try:
        body = load_json(data)
    except AriFrameError as exc:
        raise AriFrameError(f"frame {exc}") from None
    if not isinstance(body, dict):
        raise AriFrameError(f"frame is a JSON {type(body).__name__}, not an object")
    event_type = body.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise AriFrameError("frame has no string 'type'")
    return AriEvent(type=event_type, body=body)


def event_filter_body(disallowed: tuple[str, ...]) -> dict[str, Any]:
    """The body of ``PUT /applications/{app}/eventFilter`` that drops the given event types."""
    return {"disallowed": [{"type": name} for name in disallowed]}
