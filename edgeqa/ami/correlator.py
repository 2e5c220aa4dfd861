"""Sans-I/O ActionID correlation: responses and list events matched to the actions in flight."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from edgeqa.ami.errors import AmiActionError, AmiError, AmiOverloadError
from edgeqa.ami.message import AmiMessage

log = logging.getLogger(__name__)

#: Actions awaiting their answer on one connection.
MAX_ACTIONS_IN_FLIGHT = 256
#: Events one list action may collect before it fails (a CoreShowChannels of a busy PBX is ~1e3).
MAX_LIST_EVENTS = 100_000
#: Size one list action may collect before it fails, counted as its items' header text (names,
#: values and 4 bytes of ": " and CRLF per line: the wire size of ASCII). A CoreShowChannels of
#: 1,000 channels is ~1 MB; a count cap alone let 40 items of 1 MiB hold 426 MB.
MAX_LIST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Completed:
    """An action answered in full: its response, and for list actions the items in wire order."""

    action_id: str
    response: AmiMessage
    events: tuple[AmiMessage, ...]


@dataclass(frozen=True, slots=True)
class Failed:
    """An action that failed: Response Error, a cancelled list, or a list over its cap."""

    action_id: str
    error: AmiError


_Outcome = Completed | Failed | None


@dataclass(slots=True)
class _Entry:
    action: str
    is_list: bool
    response: AmiMessage | None = None
    events: list[AmiMessage] = field(default_factory=list)
    size_bytes: int = 0


class AmiCorrelator:
    """ActionID table of one connection; it never outlives the connection (no replay)."""

    def __init__(
        self,
        *,
        max_in_flight: int = MAX_ACTIONS_IN_FLIGHT,
        max_list_events: int = MAX_LIST_EVENTS,
        max_list_bytes: int = MAX_LIST_BYTES,
    ) -> None:
        self._max_in_flight = max_in_flight
        self._max_list_events = max_list_events
        self._max_list_bytes = max_list_bytes
        self._entries: dict[str, _Entry] = {}

    @property
    def in_flight(self) -> int:
        """Number of actions awaiting an answer."""
        return len(self._entries)

    def begin(self, action_id: str, action: str, *, is_list: bool) -> None:
        """Register an action about to be sent; raise AmiOverloadError past the cap."""
        if action_id in self._entries:
            raise ValueError(f"ActionID {action_id!r} is already in flight")
        if len(self._entries) >= self._max_in_flight:
            raise AmiOverloadError(f"{len(self._entries)} AMI actions already in flight")
        self._entries[action_id] = _Entry(action, is_list)

    def forget(self, action_id: str) -> None:
        """Drop an action whose caller gave up; its late answer is then ignored."""
        self._entries.pop(action_id, None)

    def reject(self, action_id: str, reason: Exception) -> Failed | None:
        """Fail the action whose answer (or one of its items) was dropped unread; None if no
        such action is in flight (its late items then reach on_message as plain events)."""
        entry = self._entries.pop(action_id, None)
        if entry is None:
            return None
        return Failed(action_id, AmiOverloadError(f"AMI {entry.action}: answer dropped: {reason}"))

    def abandon(self) -> list[str]:
        """Forget every action in flight (the link dropped) and return their ActionIDs."""
        ids = list(self._entries)
        self._entries.clear()
        return ids

    def receive(self, msg: AmiMessage) -> tuple[bool, Completed | Failed | None]:
        """Match ``msg``; return (consumed, outcome). Unconsumed messages are plain events."""
        action_id = msg.action_id
        entry = self._entries.get(action_id) if action_id is not None else None
        if msg.response is not None:
            if entry is None or action_id is None:
                log.debug("AMI response for no action in flight: %s", action_id)
                return True, None
            return True, self._on_response(action_id, entry, msg)
        if entry is None or action_id is None or not entry.is_list or entry.response is None:
            return False, None
        return True, self._on_list_event(action_id, entry, msg)

    def _on_response(self, action_id: str, entry: _Entry, msg: AmiMessage) -> _Outcome:
        if (msg.response or "").lower() == "error":
            del self._entries[action_id]
            return Failed(action_id, AmiActionError(entry.action, msg.get("Message", "") or ""))
        if not entry.is_list:
            del self._entries[action_id]
            return Completed(action_id, msg, ())
        entry.response = msg
        return None

    def _on_list_event(self, action_id: str, entry: _Entry, msg: AmiMessage) -> _Outcome:
        state = (msg.get("EventList") or "").lower()
        assert entry.response is not None
        if state == "complete":
            del self._entries[action_id]
            items = msg.get("ListItems")
            if items is not None and items.isdigit() and int(items) != len(entry.events):
                log.warning(
                    "AMI %s listed %s items but %d arrived", entry.action, items, len(entry.events)
                )
            return Completed(action_id, entry.response, tuple(entry.events))
        if state == "cancelled":
            del self._entries[action_id]
            return Failed(action_id, AmiActionError(entry.action, "event list cancelled"))
        if len(entry.events) >= self._max_list_events:
            # The rest of this list then reaches on_message as plain events; memory stays bounded.
            del self._entries[action_id]
            return Failed(
                action_id,
                AmiOverloadError(f"AMI {entry.action} sent over {self._max_list_events} events"),
            )
        entry.size_bytes += sum(len(name) + len(value) + 4 for name, value in msg.headers)
        if entry.size_bytes > self._max_list_bytes:
            del self._entries[action_id]  # its items are freed now, not when the list ends
            return Failed(
                action_id,
                AmiOverloadError(
                    f"AMI {entry.action} sent over {self._max_list_bytes} bytes of events "
                    "(MAX_LIST_BYTES)"
                ),
            )
        entry.events.append(msg)
        return None
