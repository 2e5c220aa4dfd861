"""Typed hand-off from the tracker to its consumers (live metrics): what happened to a call.

The tracker's stream events (``call.*``, ``leg.*``) are JSON for the store and the stream; a
consumer that acts on calls gets these values instead of parsing those dicts again:

- ``CallConnected``: the call is connected with a live customer and a live agent channel.
  Produced once per call, again when that pair changes (a transfer), and on a resync for a
  connected call the tracker did not know (daemon restart). ``customer``/``agent`` are the
  channels' uniqueids (= ARI channel ids); ``at`` is the wall time of the AMI/ARI event that
  connected it; ``answered_at`` the wall time of the answer (the call's time 0).
- ``HoldChanged``: the call went on or off hold (any live channel on hold), at the event's time.
- ``CallEnded``: the call ended, at the wall time it ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgeqa.calls.model import CALL_CONNECTED, ROLE_AGENT, ROLE_CUSTOMER, Call
from edgeqa.store.records import Event

#: Per-call state kept to notice changes; bounded like the tracker's calls (MAX_CALLS).
MAX_WATCHED_CALLS = 10_000


@dataclass(frozen=True, slots=True)
class CallConnected:
    """A call connected with a live customer and agent channel (or that pair changed)."""

    call_id: str
    at: float
    answered_at: float
    customer: str
    agent: str


@dataclass(frozen=True, slots=True)
class HoldChanged:
    """A connected call went on (``on_hold``) or off hold at ``at``."""

    call_id: str
    at: float
    on_hold: bool


@dataclass(frozen=True, slots=True)
class CallEnded:
    """A call ended at ``at``."""

    call_id: str
    at: float


CallChange = CallConnected | HoldChanged | CallEnded


def connected_pair(call: Call) -> tuple[str, str] | None:
    """(customer, agent) uniqueids of a connected call's first live, answered such channels.

    None until both are up: an agent channel still ringing (a re-queued call after a blind
    transfer) is not yet connected with anyone.
    """
    if call.state != CALL_CONNECTED:
        return None
    found: dict[str, str] = {}
    for channel in sorted(call.live_channels(), key=lambda c: (c.started_at, c.uniqueid)):
        if channel.role in (ROLE_CUSTOMER, ROLE_AGENT) and channel.role not in found \
                and channel.state == "up":
            found[channel.role] = channel.uniqueid
    if len(found) < 2:
        return None
    return found[ROLE_CUSTOMER], found[ROLE_AGENT]


@dataclass(slots=True)
class _Seen:
    pair: tuple[str, str] | None = None
    on_hold: bool = False


class ChangeLog:
    """Compares each touched call with what was last handed off; queues the differences."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}
        self._pending: list[CallChange] = []

    def note(self, events: Sequence[Event], calls: Mapping[str, Call], ts: float) -> None:
        """Look at every call these stream events touched (``calls``: the tracked ones), in
        the order the events name them; ``ts`` is the time of the input that caused them."""
        done: set[str] = set()
        for event in events:
            call = event.data.get("call")
            if event.type == "call.ended" and isinstance(call, Mapping):
                ended = call.get("ended_at")
                self.ended(str(call["call_id"]),
                           float(ended) if isinstance(ended, int | float) else ts)
                continue
            call_id = call.get("call_id") if isinstance(call, Mapping) \
                else event.data.get("call_id")
            if not isinstance(call_id, str) or call_id in done:
                continue
            done.add(call_id)
            known = calls.get(call_id)
            if known is not None:
                self.observe(known, ts)

    def observe(self, call: Call, ts: float) -> None:
        """Note ``call``'s current state; ``ts`` is the wall time of the event that caused it."""
        if not call.announced or call.ended_at is not None:
            return
        seen = self._seen.get(call.call_id)
        if seen is None:
            if len(self._seen) >= MAX_WATCHED_CALLS:
                self._seen.pop(next(iter(self._seen)))
            seen = self._seen[call.call_id] = _Seen()
        pair = connected_pair(call)
        if pair is not None and pair != seen.pair:
            answered = call.answered_at if call.answered_at is not None else ts
            self._pending.append(CallConnected(call.call_id, ts, answered, *pair))
            seen.pair = pair
        if seen.pair is not None and call.on_hold != seen.on_hold:
            seen.on_hold = call.on_hold
            self._pending.append(HoldChanged(call.call_id, ts, call.on_hold))

    def ended(self, call_id: str, at: float) -> None:
        """An announced call ended at ``at``."""
        self._seen.pop(call_id, None)
        self._pending.append(CallEnded(call_id, at))

    def drain(self) -> list[CallChange]:
        """Return the queued changes, oldest first, and forget them."""
        out, self._pending = self._pending, []
        return out
