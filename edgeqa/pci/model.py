"""Pure PCI-pause model: which calls are paused, since when, by whom; what is overdue; the
DTMF feature code's AMI UserEvent, checked.

A pause covers the whole call: both recorded legs are muted (silence keeps the timeline) and
neither leg is analysed. It ends with a resume, or with the call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from edgeqa.ami.message import AmiMessage
from edgeqa.audit.model import Actor

Command = Literal["pause", "resume"]
COMMANDS: tuple[Command, ...] = ("pause", "resume")
#: The AMI UserEvent name the edgeqa-pci dialplan context raises (asterisk_conf/).
USER_EVENT = "EdgeqaPci"
#: Calls paused at once, at most (a bound like the tracker's calls).
MAX_PAUSED_CALLS = 10_000

ErrorKind = Literal["unknown_call", "not_connected", "already_paused", "not_paused",
                    "switch_failed", "audit_failed", "too_many"]


class PciError(Exception):
    """A pause or resume that was not carried out; ``kind`` says why (the API maps it)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(slots=True)
class Pause:
    """A call's pause: since wall time ``since``, by ``by``; ``alerted`` once it ran long;
    ``muted`` if the recording was muted on the switch (the call was being recorded)."""

    call_id: str
    since: float
    by: Actor
    muted: bool
    alerted: bool = False


class Pauses:
    """The calls paused now."""

    def __init__(self) -> None:
        self._paused: dict[str, Pause] = {}

    def __len__(self) -> int:
        return len(self._paused)

    def get(self, call_id: str) -> Pause | None:
        """The call's pause, or None."""
        return self._paused.get(call_id)

    def start(self, pause: Pause) -> None:
        """Note ``pause``; refuse a call already paused, or one too many."""
        if pause.call_id in self._paused:
            raise PciError("already_paused", f"call {pause.call_id} is already paused")
        if len(self._paused) >= MAX_PAUSED_CALLS:
            raise PciError("too_many", f"{MAX_PAUSED_CALLS} calls are paused already")
        self._paused[pause.call_id] = pause

    def end(self, call_id: str) -> Pause | None:
        """Forget the call's pause; return it (None if it was not paused)."""
        return self._paused.pop(call_id, None)

    def overdue(self, now: float, max_pause_s: float) -> list[Pause]:
        """The pauses that reached ``max_pause_s`` at wall time ``now`` and were not alerted
        yet; each is marked alerted (one alert per pause)."""
        due = [p for p in self._paused.values()
               if not p.alerted and now - p.since >= max_pause_s]
        for pause in due:
            pause.alerted = True
        return due


@dataclass(frozen=True, slots=True)
class DtmfRequest:
    """A feature code pressed on a phone: ``command`` from the channel ``uniqueid``."""

    command: Command
    uniqueid: str
    channel: str


_COMMAND_OF: dict[str, Command] = {c: c for c in COMMANDS}


def parse_user_event(msg: AmiMessage) -> DtmfRequest | None:
    """The request in an AMI ``UserEvent`` of the edgeqa-pci context, or None if the message
    is another one. Raise ValueError for an EdgeqaPci event that is not well formed."""
    if msg.get("Event") != "UserEvent" or msg.get("UserEvent") != USER_EVENT:
        return None
    raw = msg.get("Action")
    command = _COMMAND_OF.get((raw or "").strip().lower())
    if command is None:
        raise ValueError(f"{USER_EVENT} with Action {raw!r} (expected pause or resume)")
    uniqueid, channel = msg.get("Uniqueid"), msg.get("Channel")
    if not uniqueid or not channel:
        raise ValueError(f"{USER_EVENT} without the channel that raised it")
    return DtmfRequest(command, uniqueid, channel)


def paused_spans(entries: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """A call's paused spans in wall time, from its pci.* audit entries (oldest first): each
    pause to the next resume; a pause still open at the end runs to ``inf`` (the call's end)."""
    spans: list[tuple[float, float]] = []
    since: float | None = None
    for entry in entries:
        if entry["action"] == "pci.pause" and since is None:
            since = float(entry["at"])
        elif entry["action"] == "pci.resume" and since is not None:
            spans.append((since, float(entry["at"])))
            since = None
    if since is not None:
        spans.append((since, math.inf))
    return spans
