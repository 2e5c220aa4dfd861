"""The tracker's state: calls, channels and lookups, and the events a change of them makes (pure).

Every collaborator of the tracker (channels, holds, queue calls, placement, transfers) takes
this one object and changes it; nothing else holds tracker state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeqa.ami.message import AmiMessage
from edgeqa.calls.model import (
    CALL_CONNECTED,
    CALL_ENDED,
    CHANNEL_HUNGUP,
    CHANNEL_STATES,
    ROLE_SUPERVISOR,
    Call,
    Channel,
)
from edgeqa.calls.queues import QueueBook
from edgeqa.store.records import Event

Events = list[Event]

# A single edge box never carries more; beyond this new calls are counted in ``dropped``.
MAX_CALLS = 10_000
MAX_CHANNELS_PER_CALL = 64
# Spy modes remembered from OriginateResponse / Newexten until ChanSpyStart names the spyer.
MAX_PENDING_SPY_MODES = 1_000
# Uniqueids of channels that hung up (and ids of calls that ended), so a resync list taken just
# before the Hangup cannot bring them back to life (the lists are read, then applied, while
# live events keep flowing).
MAX_RECENTLY_ENDED = 4_096
# Linkedids of calls merged into another by an attended transfer: channels Asterisk still
# creates with such a Linkedid join the call that absorbed it.
MAX_MERGED_CALL_IDS = 1_000


@dataclass(slots=True)
class ResyncState:
    """Channels, queues, members and callers listed between begin_resync and end_resync."""

    started_at: float
    channels: set[str] = field(default_factory=set)
    queues: set[str] = field(default_factory=set)
    members: set[tuple[str, str]] = field(default_factory=set)
    callers: set[tuple[str, str]] = field(default_factory=set)
    #: Exact creation times by uniqueid (ARI ``creationtime``), better than AMI's ``Duration``.
    created: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KnownCall:
    """A call a previous run stored as open: its real start and answer (wall times)."""

    started_at: float
    answered_at: float | None


def event_time(msg: AmiMessage, now: float) -> float:
    """The event's own time (``Timestamp:`` with timestampevents=yes), else ``now``."""
    raw = msg.get("Timestamp")
    if raw:
        try:
            return float(raw)
        except ValueError:
            pass
    return now


def state_name(code: str | None, desc: str | None) -> str | None:
    """AMI ChannelState / ChannelStateDesc -> the tracker's lower-case state name."""
    if code is not None and code.isdigit():
        return CHANNEL_STATES.get(int(code), desc.lower() if desc else "unknown")
    return desc.lower().replace(" ", "_") if desc else None


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


def call_header(call: Call) -> dict[str, Any]:
    """The call without its channels: what a call.updated reports a change of."""
    data = call.to_dict()
    del data["channels"]
    return data


def ended_call(call: Mapping[str, Any], at: float) -> dict[str, Any]:
    """A stored call object (payload v1 or v2) as ended at ``at``, in payload v2.

    Its channels that had not hung up are marked hung up at ``at``, cause ``swept``.
    """
    channels = call.get("channels", call.get("legs"))
    out = {k: v for k, v in call.items() if k != "legs"}
    started = call.get("started_at")
    out.update(state=CALL_ENDED, ended_at=at, on_hold=False,
               duration_s=at - started if isinstance(started, int | float) else None,
               channels=[_hung_up(c, at) for c in channels if isinstance(c, Mapping)]
               if isinstance(channels, list) else [])
    return out


def _hung_up(channel: Mapping[str, Any], at: float) -> dict[str, Any]:
    if channel.get("ended_at") is not None:
        return dict(channel)
    return dict(channel, state=CHANNEL_HUNGUP, ended_at=at, hangup_cause="swept",
                on_hold=False)


def _remember(book: dict[str, Any], key: str, value: Any, limit: int) -> None:
    if len(book) >= limit:
        book.pop(next(iter(book)))
    book[key] = value


class TrackerState:
    """Calls by id, live channels by uniqueid, the queues, and what was recently ended."""

    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}
        self.channels: dict[str, Channel] = {}
        self.queues = QueueBook()
        self.dropped = 0
        self.spy_modes: dict[str, str] = {}
        self.resync: ResyncState | None = None
        self.known: dict[str, KnownCall] = {}
        self._ended: dict[str, None] = {}
        self._ended_calls: dict[str, None] = {}
        self._merged_into: dict[str, str] = {}

    # -- lookups -------------------------------------------------------------------------------

    def mark_seen(self, uniqueid: str) -> None:
        """A resync in progress listed (or an event named) this channel: it is not swept."""
        if self.resync is not None:
            self.resync.channels.add(uniqueid)

    def touch(self, uniqueid: str | None, now: float) -> Channel | None:
        """The live channel ``uniqueid``, marked as seen at ``now``; None if unknown."""
        channel = self.channels.get(uniqueid or "")
        if channel is not None:
            channel.last_seen = now
            self.mark_seen(channel.uniqueid)
        return channel

    def any_channel(self, uniqueid: str | None, now: float) -> Channel | None:
        """A live channel, or one that already hung up in a call still going on."""
        channel = self.touch(uniqueid, now)
        if channel is not None or not uniqueid:
            return channel
        return next((c.channels[uniqueid] for c in self.calls.values()
                     if uniqueid in c.channels), None)

    def call_id_for(self, linkedid: str) -> str:
        """The call a channel with this Linkedid belongs to (after attended transfers)."""
        return self._merged_into.get(linkedid, linkedid)

    def has_ended(self, uniqueid: str) -> bool:
        """True if this uniqueid hung up already (uniqueids are never reused)."""
        return uniqueid in self._ended

    def is_ended_call(self, call_id: str) -> bool:
        """True if this call ended already (Linkedids are never reused)."""
        return call_id in self._ended_calls

    def note_ended(self, uniqueid: str) -> None:
        _remember(self._ended, uniqueid, None, MAX_RECENTLY_ENDED)

    def note_merged(self, call_id: str, into: str) -> None:
        _remember(self._merged_into, call_id, into, MAX_MERGED_CALL_IDS)

    def drop_call(self, call_id: str) -> None:
        """Forget an ended call, remembering its id: Linkedids are never reused."""
        self.calls.pop(call_id, None)
        self.known.pop(call_id, None)
        _remember(self._ended_calls, call_id, None, MAX_RECENTLY_ENDED)

    def remember_spy_mode(self, uniqueid: str, mode: str) -> None:
        _remember(self.spy_modes, uniqueid, mode, MAX_PENDING_SPY_MODES)

    # -- calls ---------------------------------------------------------------------------------

    def new_call(self, call_id: str, ts: float) -> Call | None:
        """Start tracking a call (from a stored start if a previous run knew it)."""
        if len(self.calls) >= MAX_CALLS:
            self.dropped += 1
            return None
        known = self.known.get(call_id)
        started = ts if known is None else min(ts, known.started_at)
        call = self.calls[call_id] = Call(call_id=call_id, started_at=started)
        return call

    def connect(self, call: Call, ts: float) -> None:
        """The call is connected; answered at ``ts`` unless it already was, or a previous
        run stored its real answer (a call still up across a daemon restart)."""
        call.state = CALL_CONNECTED
        if call.answered_at is None:
            known = self.known.get(call.call_id)
            call.answered_at = ts if known is None or known.answered_at is None \
                else known.answered_at

    def connect_if_bridged(self, call: Call, ts: float) -> None:
        """Two non-supervisor channels in one bridge: the call is connected (answered at ``ts``)."""
        if call.state in (CALL_CONNECTED, CALL_ENDED):
            return
        bridges = [c.bridge_id for c in call.live_channels()
                   if c.bridge_id and c.role != ROLE_SUPERVISOR]
        if any(bridges.count(bridge) >= 2 for bridge in bridges):
            self.connect(call, ts)

    # -- events --------------------------------------------------------------------------------

    @staticmethod
    def channel_data(channel: Channel) -> dict[str, Any]:
        """The payload of leg.added / leg.updated / leg.removed (v2)."""
        return {"call_id": channel.call_id, "leg": channel.role, "channel": channel.to_dict()}

    def channel_changed(self, channel: Channel, before: dict[str, Any], now: float) -> Events:
        """leg.updated if ``channel`` of an announced call differs from ``before``."""
        call = self.calls.get(channel.call_id)
        if call is None or not call.announced or channel.to_dict() == before:
            return []
        return [Event("leg.updated", now, self.channel_data(channel))]

    def call_changed(self, call: Call, before: dict[str, Any], now: float) -> Events:
        """call.updated if the announced ``call``'s header differs from ``before``."""
        if not call.announced or call_header(call) == before:
            return []
        return [Event("call.updated", now, {"call": call.to_dict()})]

    def announce(self, call: Call | None, now: float) -> Events:
        """call.started and its channels' leg.added, the first time a call acts like one."""
        if call is None or call.announced:
            return []
        call.announced = True
        events = [Event("call.started", now, {"call": call.to_dict()})]
        for channel in sorted(call.channels.values(), key=lambda c: (c.started_at, c.uniqueid)):
            events.append(Event("leg.added", now, self.channel_data(channel)))
        return events
