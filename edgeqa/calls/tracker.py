"""CallTracker: a pure state machine joining AMI and ARI events into calls, channels and queues.

Calls are keyed by Linkedid.  A call is announced (``call.started``) once it does something a
call does (dials, queues, bridges); until then it is kept quietly, so an originated ChanSpy
channel or a ``Local/`` plumbing pair never shows up as a phantom call.

The tracker is composed: one state (``TrackerState``) and the collaborators that change it
(channels, holds, queue calls, placement, transfers); each AMI event name and each ARI event
type maps to one handler in the two dispatch tables below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from edgeqa.ami.message import AmiMessage
from edgeqa.ari import decode
from edgeqa.ari.decode import ChannelChange
from edgeqa.calls.changes import CallChange, ChangeLog
from edgeqa.calls.channels import Channels
from edgeqa.calls.holds import Holds
from edgeqa.calls.model import Call, Channel
from edgeqa.calls.placement import Placement
from edgeqa.calls.queue_calls import QueueCalls
from edgeqa.calls.queues import MEMBER_EVENTS
from edgeqa.calls.state import (
    Events,
    KnownCall,
    ResyncState,
    TrackerState,
    ended_call,
    event_time,
)
from edgeqa.calls.transfers import Transfers
from edgeqa.store.records import Event

AmiHandler = Callable[[AmiMessage, float, float], Events]
AriHandler = Callable[[ChannelChange, Channel, float], Events]

# Resync order: queue membership first (roles depend on it), supervisors after their spyees.
_RESYNC_ORDER = {"QueueParams": 0, "QueueMember": 1, "CoreShowChannel": 2, "QueueEntry": 4}


def _resync_rank(msg: AmiMessage) -> int:
    if msg.event == "CoreShowChannel" and msg.get("Application") == "ChanSpy":
        return 3
    return _RESYNC_ORDER.get(msg.event or "", 5)


class CallTracker:
    """Calls, channels, queues and agents; every input returns the stream Events it caused,
    and queues the typed call changes that ``drain_changes()`` hands over."""

    def __init__(self) -> None:
        self.state = TrackerState()
        channels = Channels(self.state)
        holds = Holds(self.state)
        queue_calls = QueueCalls(self.state, channels)
        self._placement = Placement(self.state, channels)
        transfers = Transfers(self.state, self._placement)
        self._channels = channels
        self._changes = ChangeLog()
        member_events = dict.fromkeys(MEMBER_EVENTS, queue_calls.member)
        self._ami: dict[str, AmiHandler] = {
            "Newchannel": channels.newchannel, "Newstate": channels.newstate,
            "NewCallerid": channels.newcallerid, "Hangup": channels.hangup,
            "DialBegin": channels.dialbegin,
            "BridgeEnter": channels.bridge_enter, "BridgeLeave": channels.bridge_leave,
            "MixMonitorStart": channels.mixmonitor, "MixMonitorStop": channels.mixmonitor,
            "Hold": holds.ami, "Unhold": holds.ami,
            "QueueCallerJoin": queue_calls.caller_join,
            "QueueCallerLeave": queue_calls.caller_leave,
            "QueueCallerAbandon": queue_calls.caller_abandon,
            "AgentCalled": queue_calls.agent_called, "AgentConnect": queue_calls.agent_connect,
            "AgentComplete": queue_calls.agent_complete,
            **member_events,
            "QueueMemberRemoved": queue_calls.member_removed,
            "QueueParams": queue_calls.queue_params, "QueueEntry": queue_calls.queue_entry,
            "BlindTransfer": transfers.blind, "AttendedTransfer": transfers.attended,
            "ChanSpyStart": self._placement.spy_start, "ChanSpyStop": self._placement.spy_stop,
            "Newexten": self._placement.newexten,
            "OriginateResponse": self._placement.originate_response,
            "UserEvent": self._placement.user_event,
            "CoreShowChannel": self._placement.core_show_channel,
        }
        self._ari: dict[str, AriHandler] = {
            "ChannelDestroyed": channels.ari_destroyed,
            "ChannelStateChange": channels.ari_state,
            "ChannelHold": holds.ari, "ChannelUnhold": holds.ari,
        }

    @property
    def calls(self) -> dict[str, Call]:
        """The calls being tracked, by call id (announced or not)."""
        return self.state.calls

    @property
    def channels(self) -> dict[str, Channel]:
        """The live channels, by uniqueid."""
        return self.state.channels

    # -- live events -------------------------------------------------------------------------------

    def handle_ami(self, msg: AmiMessage, now: float) -> list[Event]:
        """Apply one AMI event; return the events it caused (none for unrelated events)."""
        handler = self._ami.get(msg.event or "")
        if handler is None:
            return []
        ts = event_time(msg, now)
        return self._note_changes(handler(msg, ts, now), ts)

    def handle_ari(self, event: Mapping[str, Any], now: float) -> list[Event]:
        """Apply one ARI event: hang-ups, state and hold changes of channels already known."""
        handler = self._ari.get(str(event.get("type")))
        change = None if handler is None else decode.channel_change(event, now)
        channel = None if change is None else self.state.touch(change.uniqueid, now)
        if handler is None or change is None or channel is None:
            return []
        return self._note_changes(handler(change, channel, now), change.ts)

    def drain_changes(self) -> list[CallChange]:
        """The typed call changes (connected, hold, ended) since the last drain, in order."""
        return self._changes.drain()

    def _note_changes(self, events: Events, ts: float) -> Events:
        """Hand the calls these events touched to the change log; return ``events``."""
        self._changes.note(events, self.state.calls, ts)
        return events

    # -- resync ------------------------------------------------------------------------------------

    def begin_resync(self, now: float) -> None:
        """Start a resync: every channel not listed before end_resync() counts as hung up."""
        self.state.resync = ResyncState(started_at=now)

    def cancel_resync(self) -> None:
        """Abandon a resync whose lists could not be read: nothing is swept."""
        self.state.resync = None

    def resync_ami(self, msgs: Sequence[AmiMessage], now: float,
                   ari_channels: Sequence[Mapping[str, Any]] = ()) -> list[Event]:
        """Apply CoreShowChannel and QueueParams/QueueMember/QueueEntry events (any order).

        ``ari_channels`` (GET /channels, if read already) gives the channels' exact creation
        times, which CoreShowChannel's whole-second ``Duration`` only approximates.
        """
        if self.state.resync is not None:
            snaps = (decode.channel_snapshot(c, now) for c in ari_channels)
            self.state.resync.created.update(
                (x.uniqueid, x.started_at) for x in snaps if x is not None and x.started_at != now)
        events: Events = []
        for msg in sorted(msgs, key=_resync_rank):
            events += self.handle_ami(msg, now)
        return events

    def resync_ari(self, channels: Sequence[Mapping[str, Any]],
                   bridges: Sequence[Mapping[str, Any]], now: float) -> list[Event]:
        """Apply GET /channels and GET /bridges: refresh known channels, place unknown ones."""
        return self._note_changes(self._placement.ari_channels(channels, bridges, now), now)

    def end_resync(self, now: float, lost_at: float | None = None) -> list[Event]:
        """Finish a resync: end channels, members and callers Asterisk no longer lists.

        ``lost_at`` is the wall time the AMI link went down before this resync, if it did:
        what is gone now ended while the link was down, so at the disconnect, not at the
        resync (a channel an event touched later ended no earlier than that event).
        """
        state, self.state.resync = self.state.resync, None
        self.state.known.clear()  # stored calls still up have been placed by now
        if state is None:
            return []
        events: Events = []
        for uniqueid in sorted(self.state.channels):
            channel = self.state.channels.get(uniqueid)
            if channel is not None and uniqueid not in state.channels:
                ended = now if lost_at is None else min(now, max(lost_at, channel.last_seen))
                events += self._channels.end(channel, ended, now, "swept")
        events += self.state.queues.sweep_unseen(state.queues, state.members, state.callers,
                                                 now)
        return self._note_changes(events, now)

    def remember_calls(self, calls: Iterable[Mapping[str, Any]]) -> None:
        """Calls a previous run stored as open (their ``call`` objects, v1 or v2).

        One still up at the next resync keeps its stored start and answer: a daemon restart
        does not move a call's time 0 (TrackerState.connect).
        """
        for call in calls:
            call_id, started = call.get("call_id"), call.get("started_at")
            answered = call.get("answered_at")
            if isinstance(call_id, str) and isinstance(started, int | float):
                self.state.known[call_id] = KnownCall(
                    float(started), float(answered) if isinstance(answered, int | float)
                    else None)

    def end_stored_call(self, call: Mapping[str, Any], at: float) -> list[Event]:
        """End a call a previous run left open that Asterisk no longer has (hang-up missed).

        Returns its call.ended (payload v2, its channels hung up ``swept``) and queues its
        CallEnded; a call the tracker follows (announced) is left alone (returns nothing).
        """
        call_id = call.get("call_id")
        if not isinstance(call_id, str) or self.state.is_ended_call(call_id):
            return []
        tracked = self.state.calls.get(call_id)
        if tracked is not None and tracked.announced:
            return []
        if tracked is None:  # else a channel of it is up, but it is not a call (yet) again
            self.state.drop_call(call_id)
        return self._note_changes([Event("call.ended", at, {"call": ended_call(call, at)})], at)

    # -- housekeeping ------------------------------------------------------------------------------

    def sweep(self, now: float, max_idle_s: float) -> list[Event]:
        """End channels that no event touched for ``max_idle_s`` (their hang-up was missed)."""
        events: Events = []
        for uniqueid in sorted(self.state.channels):
            channel = self.state.channels.get(uniqueid)
            if channel is not None and now - channel.last_seen > max_idle_s:
                events += self._channels.end(channel, now, now, "swept")
        queues = self.state.queues
        for queue in list(queues.queues.values()):
            for caller in list(queue.callers.values()):
                if caller.uniqueid not in self.state.channels and now - caller.since > max_idle_s:
                    events += queues.leave(queue.name, caller.uniqueid, now, now, "swept")
        return self._note_changes(events, now)

    def snapshot(self) -> dict[str, Any]:
        """The whole model, JSON-ready: {"calls": [...], "queues": [...], "agents": [...]}."""
        calls = sorted((c for c in self.state.calls.values() if c.announced),
                       key=lambda c: (c.started_at, c.call_id))
        queues = self.state.queues
        return {
            "calls": [call.to_dict() for call in calls],
            "queues": [queues.queues[n].to_dict() for n in sorted(queues.queues)],
            "agents": [queues.agent_dict(i, self._channels.on_call(i))
                       for i in queues.interfaces()],
        }
