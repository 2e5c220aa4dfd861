"""Tracker state and the leg/call bookkeeping every event handler shares (pure)."""

from __future__ import annotations

from typing import Any

from edgeqa.ami.message import AmiMessage
from edgeqa.calls.model import (
    CALL_ENDED,
    CHANNEL_HUNGUP,
    CHANNEL_STATES,
    ROLE_AGENT,
    ROLE_CALLEE,
    ROLE_CUSTOMER,
    ROLE_SUPERVISOR,
    ROLE_UNKNOWN,
    Call,
    Channel,
    endpoint_of,
    spy_mode_of,
)
from edgeqa.calls.queues import QueueBook
from edgeqa.calls.resync import ResyncState
from edgeqa.store.records import Event

# A single edge box never carries more; beyond this new calls are counted in ``dropped``.
MAX_CALLS = 10_000
MAX_CHANNELS_PER_CALL = 64
# Spy modes remembered from OriginateResponse / Newexten until ChanSpyStart names the spyer.
MAX_PENDING_SPY_MODES = 1_000
# Uniqueids of legs that hung up (and ids of calls that ended), so a resync list taken just
# before the Hangup cannot bring them back to life (the lists are read, then applied, while
# live events keep flowing).
MAX_RECENTLY_ENDED = 4_096
# Linkedids of calls merged into another by an attended transfer: channels Asterisk still
# creates with such a Linkedid join the call that absorbed it.
MAX_MERGED_CALL_IDS = 1_000

Events = list[Event]


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
    if code is not None and code.isdigit():
        return CHANNEL_STATES.get(int(code), desc.lower() if desc else "unknown")
    return desc.lower().replace(" ", "_") if desc else None


def call_header(call: Call) -> dict[str, Any]:
    data = call.to_dict()
    del data["channels"]
    return data


class TrackerCore:
    """The model's state, and the helpers that keep calls, legs and announcements consistent."""

    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}
        self.channels: dict[str, Channel] = {}
        self.queues = QueueBook()
        self.dropped = 0
        self._spy_modes: dict[str, str] = {}
        self._ended: dict[str, None] = {}
        self._ended_calls: dict[str, None] = {}
        self._merged_into: dict[str, str] = {}
        self._resync: ResyncState | None = None

    def _mark_seen(self, uniqueid: str) -> None:
        if self._resync is not None:
            self._resync.channels.add(uniqueid)

    def _new_leg(self, uniqueid: str, channel: str, call_id: str, ts: float,
                 now: float) -> tuple[Channel | None, Events]:
        call = self.calls.get(call_id)
        if call is None and call_id in self._ended_calls:
            # Only a late (reordered) event can name a call that ended: it stays ended.
            return None, []
        if call is None:
            if len(self.calls) >= MAX_CALLS:
                self.dropped += 1
                return None, []
            call = self.calls[call_id] = Call(call_id=call_id, started_at=ts)
        call.started_at = min(call.started_at, ts)
        if len(call.channels) >= MAX_CHANNELS_PER_CALL:
            self.dropped += 1
            return None, []
        leg = Channel(uniqueid=uniqueid, channel=channel, call_id=call_id, started_at=ts,
                  last_seen=now)
        call.channels[uniqueid] = leg
        self.channels[uniqueid] = leg
        events = [Event("leg.added", now, self._leg_data(leg))] if call.announced else []
        return leg, events

    def _leg(self, uniqueid: str | None, now: float) -> Channel | None:
        leg = self.channels.get(uniqueid or "")
        if leg is not None:
            leg.last_seen = now
            self._mark_seen(leg.uniqueid)
        return leg

    def _leg_data(self, leg: Channel) -> dict[str, Any]:
        return {"call_id": leg.call_id, "leg": leg.role, "channel": leg.to_dict()}

    def _leg_changed(self, leg: Channel, before: dict[str, Any], now: float) -> Events:
        call = self.calls.get(leg.call_id)
        if call is None or not call.announced or leg.to_dict() == before:
            return []
        return [Event("leg.updated", now, self._leg_data(leg))]

    def _call_changed(self, call: Call, before: dict[str, Any], now: float) -> Events:
        if not call.announced or call_header(call) == before:
            return []
        return [Event("call.updated", now, {"call": call.to_dict()})]

    def _announce(self, call: Call | None, now: float) -> Events:
        if call is None or call.announced:
            return []
        call.announced = True
        events = [Event("call.started", now, {"call": call.to_dict()})]
        for leg in sorted(call.channels.values(), key=lambda leg: (leg.started_at, leg.uniqueid)):
            events.append(Event("leg.added", now, self._leg_data(leg)))
        return events

    def _set_state(self, leg: Channel, state: str, ts: float) -> None:
        answered = state == "up" and leg.state != "up"
        leg.state = state
        if state == "up" and leg.answered_at is None:
            leg.answered_at = ts
        if answered and leg.role == ROLE_AGENT:
            # Asterisk sends the agent's QueueMemberStatus (in use) before QueueCallerLeave:
            # from here on the caller is no longer listed as waiting (issue 4).
            self.queues.answered(leg.call_id, leg.uniqueid)

    def _end_leg(self, leg: Channel, ts: float, now: float, cause: str | None) -> Events:
        call = self.calls.get(leg.call_id)
        header = None if call is None else call_header(call)
        leg.set_hold(False, ts)
        leg.ended_at, leg.hangup_cause, leg.state = ts, cause or None, CHANNEL_HUNGUP
        self.channels.pop(leg.uniqueid, None)
        self._note_ended(leg.uniqueid)
        events = self.queues.leave_everywhere(leg.uniqueid, ts, now, "hangup")
        events += self.queues.release(leg.uniqueid, now)
        if call is None or header is None or call.channels.get(leg.uniqueid) is not leg:
            return events
        if call.announced:
            events.append(Event("leg.removed", now, self._leg_data(leg)))
        if leg.role == ROLE_AGENT and leg.agent_interface:
            events += self._agent_updated(leg.agent_interface, now)
        if any(other.role != ROLE_SUPERVISOR for other in call.live_channels()):
            return events + self._call_changed(call, header, now)
        call.ended_at, call.state = ts, CALL_ENDED
        self._drop_call(call.call_id)
        for other in call.live_channels():
            self.channels.pop(other.uniqueid, None)
        if call.announced:
            events.append(Event("call.ended", now, {"call": call.to_dict()}))
        return events

    def _note_ended(self, uniqueid: str) -> None:
        if len(self._ended) >= MAX_RECENTLY_ENDED:
            self._ended.pop(next(iter(self._ended)))
        self._ended[uniqueid] = None

    def _drop_call(self, call_id: str) -> None:
        """Forget an ended call, remembering its id: Linkedids are never reused."""
        self.calls.pop(call_id, None)
        if len(self._ended_calls) >= MAX_RECENTLY_ENDED:
            self._ended_calls.pop(next(iter(self._ended_calls)))
        self._ended_calls[call_id] = None

    def _note_merged(self, call_id: str, into: str) -> None:
        if len(self._merged_into) >= MAX_MERGED_CALL_IDS:
            self._merged_into.pop(next(iter(self._merged_into)))
        self._merged_into[call_id] = into

    def _call_id_for(self, linkedid: str) -> str:
        """The call a channel with this Linkedid belongs to (after attended transfers)."""
        return self._merged_into.get(linkedid, linkedid)

    def _has_ended(self, uniqueid: str) -> bool:
        """True if this uniqueid hung up already (uniqueids are never reused)."""
        return uniqueid in self._ended

    def _agent_updated(self, interface: str, now: float) -> Events:
        if interface not in self.queues.interfaces():
            return []
        data = {"agent": self.queues.agent_dict(interface, self._on_call(interface))}
        return [Event("agent.updated", now, data)]

    def _on_call(self, interface: str) -> str | None:
        member = self.queues.member_for(interface)
        names = {interface, endpoint_of(interface)}
        if member is not None and member.state_interface:
            names.add(member.state_interface)
        for leg in self.channels.values():
            if leg.role == ROLE_AGENT and (leg.agent_interface in names or leg.endpoint in names):
                return leg.call_id
        return None

    def _default_role(self, leg: Channel, dialled: bool) -> None:
        if leg.role != ROLE_UNKNOWN:
            return
        is_agent = leg.endpoint in self.queues.agent_endpoints()
        if is_agent:
            leg.role = ROLE_AGENT
            member = self.queues.member_for(leg.endpoint)
            leg.agent_interface = member.interface if member else leg.endpoint
        else:
            leg.role = ROLE_CALLEE if dialled else ROLE_CUSTOMER

    def _remember_spy_mode(self, uniqueid: str, data: str) -> None:
        if not uniqueid:
            return
        if len(self._spy_modes) >= MAX_PENDING_SPY_MODES:
            self._spy_modes.pop(next(iter(self._spy_modes)))
        self._spy_modes[uniqueid] = spy_mode_of(data)
        leg = self.channels.get(uniqueid)
        if leg is not None and leg.role == ROLE_SUPERVISOR:
            leg.spy_mode = self._spy_modes[uniqueid]
