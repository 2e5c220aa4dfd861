"""CallTracker: a pure state machine joining AMI and ARI events into calls, legs and queues.

Calls are keyed by Linkedid.  A call is announced (``call.started``) once it does something a
call does (dials, queues, bridges); until then it is kept quietly, so an originated ChanSpy
channel or a ``Local/`` plumbing pair never shows up as a phantom call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgeqa.ami.message import AmiMessage
from edgeqa.ari import decode
from edgeqa.calls.changes import CallChange, ChangeLog
from edgeqa.calls.core import Events, call_header, event_time
from edgeqa.calls.handlers import AmiHandlers
from edgeqa.calls.model import is_local, is_media_helper
from edgeqa.calls.queues import MEMBER_EVENTS
from edgeqa.calls.resync import ResyncState
from edgeqa.store.records import Event

# Resync order: queue membership first (roles depend on it), supervisors after their spyees.
_RESYNC_ORDER = {"QueueParams": 0, "QueueMember": 1, "CoreShowChannel": 2, "QueueEntry": 4}


def _resync_rank(msg: AmiMessage) -> int:
    if msg.event == "CoreShowChannel" and msg.get("Application") == "ChanSpy":
        return 3
    return _RESYNC_ORDER.get(msg.event or "", 5)


class CallTracker(AmiHandlers):
    """Calls, legs, queues and agents; every input returns the TrackerEvents it caused."""

    def __init__(self) -> None:
        super().__init__()
        self._ami = self._handlers()
        self._changes = ChangeLog()

    def drain_changes(self) -> list[CallChange]:
        """The typed call changes (connected, hold, ended) since the last drain, in order."""
        return self._changes.drain()

    def _note_changes(self, events: Events, ts: float) -> Events:
        """Hand the calls these events touched to the change log; return ``events``."""
        done: set[str] = set()
        for event in events:
            call = event.data.get("call")
            if event.type == "call.ended" and isinstance(call, Mapping):
                ended = call.get("ended_at")
                self._changes.ended(str(call["call_id"]),
                                    float(ended) if isinstance(ended, int | float) else ts)
                continue
            call_id = call.get("call_id") if isinstance(call, Mapping) \
                else event.data.get("call_id")
            if not isinstance(call_id, str) or call_id in done:
                continue
            done.add(call_id)
            known = self.calls.get(call_id)
            if known is not None:
                self._changes.observe(known, ts)
        return events

    def handle_ami(self, msg: AmiMessage, now: float) -> list[Event]:
        """Apply one AMI event; return the events it caused (none for unrelated events)."""
        name = msg.event or ""
        ts = event_time(msg, now)
        if name in MEMBER_EVENTS:
            return self._member(msg, ts, now)
        handler = self._ami.get(name)
        return [] if handler is None else self._note_changes(handler(msg, ts, now), ts)

    def handle_ari(self, event: Mapping[str, Any], now: float) -> list[Event]:
        """Apply one ARI event: hang-ups, state and hold changes of channels already known."""
        change = decode.channel_change(event, now)
        leg = None if change is None else self._leg(change.uniqueid, now)
        if change is None or leg is None:
            return []
        if change.ended:
            return self._note_changes(self._end_leg(leg, change.ts, now, change.cause),
                                      change.ts)
        call = self.calls[leg.call_id]
        before, header = leg.to_dict(), call_header(call)
        if change.state is not None:
            self._set_state(leg, change.state, change.ts)
        if change.on_hold is not None:
            leg.set_hold(change.on_hold, change.ts)
        return self._note_changes(
            self._leg_changed(leg, before, now) + self._call_changed(call, header, now),
            change.ts)

    def begin_resync(self, now: float) -> None:
        """Start a resync: every leg not listed before end_resync() counts as hung up."""
        self._resync = ResyncState(started_at=now)

    def cancel_resync(self) -> None:
        """Abandon a resync whose lists could not be read: nothing is swept."""
        self._resync = None

    def resync_ami(self, msgs: Sequence[AmiMessage], now: float) -> list[Event]:
        """Apply CoreShowChannel and QueueParams/QueueMember/QueueEntry events (any order)."""
        events: Events = []
        for msg in sorted(msgs, key=_resync_rank):
            events += self.handle_ami(msg, now)
        return events

    def resync_ari(self, channels: Sequence[Mapping[str, Any]],
                   bridges: Sequence[Mapping[str, Any]], now: float) -> list[Event]:
        """Apply GET /channels and GET /bridges: refresh known legs, place unknown ones.

        ARI gives no Linkedid: an unknown channel joins the call of a known channel in its
        bridge, or starts a call of its own (announced only if it is bridged or dialling).
        """
        events: Events = []
        bridge_of = decode.bridge_members(bridges)
        snaps = [s for s in (decode.channel_snapshot(c, now) for c in channels)
                 if s is not None and not is_media_helper(s.name) and not is_local(s.name)
                 and not self._has_ended(s.uniqueid)]
        snaps.sort(key=lambda s: s.app == "ChanSpy")
        for snap in snaps:
            self._mark_seen(snap.uniqueid)
            bridge_id = bridge_of.get(snap.uniqueid)
            leg = self._leg(snap.uniqueid, now)
            if leg is not None:
                before = leg.to_dict()
                self._set_state(leg, snap.state, now)
                leg.bridge_id = bridge_id
                events += self._leg_changed(leg, before, now)
                continue
            peers = [self.channels[u] for u, b in bridge_of.items()
                     if bridge_id is not None and b == bridge_id and u in self.channels]
            call_id = peers[0].call_id if peers else snap.uniqueid
            leg, made = self._new_leg(snap.uniqueid, snap.name, call_id, snap.started_at, now)
            if leg is None:
                continue
            leg.caller_id_num, leg.caller_id_name = snap.caller_num, snap.caller_name
            self._set_state(leg, snap.state, snap.started_at)
            leg.bridge_id = bridge_id
            events += made + self._role_from_app(leg, snap.app, snap.app_data, now)
        return self._note_changes(events, now)

    def end_resync(self, now: float) -> list[Event]:
        """Finish a resync: end legs, members and callers that Asterisk no longer lists."""
        state, self._resync = self._resync, None
        if state is None:
            return []
        events: Events = []
        for uniqueid in sorted(self.channels):
            leg = self.channels.get(uniqueid)
            if leg is not None and uniqueid not in state.channels:
                events += self._end_leg(leg, now, now, "swept")
        events += self.queues.sweep_unseen(state.queues, state.members, state.callers, now)
        return self._note_changes(events, now)

    def sweep(self, now: float, max_idle_s: float) -> list[Event]:
        """End legs that no event touched for ``max_idle_s`` (their hang-up was missed)."""
        events: Events = []
        for uniqueid in sorted(self.channels):
            leg = self.channels.get(uniqueid)
            if leg is not None and now - leg.last_seen > max_idle_s:
                events += self._end_leg(leg, now, now, "swept")
        for queue in list(self.queues.queues.values()):
            for caller in list(queue.callers.values()):
                if caller.uniqueid not in self.channels and now - caller.since > max_idle_s:
                    events += self.queues.leave(queue.name, caller.uniqueid, now, now, "swept")
        return self._note_changes(events, now)

    def snapshot(self) -> dict[str, Any]:
        """The whole model, JSON-ready: {"calls": [...], "queues": [...], "agents": [...]}."""
        calls = sorted((c for c in self.calls.values() if c.announced),
                       key=lambda c: (c.started_at, c.call_id))
        return {
            "calls": [call.to_dict() for call in calls],
            "queues": [self.queues.queues[n].to_dict() for n in sorted(self.queues.queues)],
            "agents": [self.queues.agent_dict(i, self._on_call(i))
                       for i in self.queues.interfaces()],
        }
