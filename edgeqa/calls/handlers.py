"""The tracker's AMI event handlers, one method per event (pure)."""

from __future__ import annotations

from collections.abc import Callable

from edgeqa.ami.message import AmiMessage
from edgeqa.calls.core import Events, call_header, state_name
from edgeqa.calls.model import (
    CALL_CONNECTED,
    CALL_NEW,
    CALL_QUEUED,
    ROLE_AGENT,
    ROLE_CALLEE,
    ROLE_UNKNOWN,
    Call,
    Channel,
    endpoint_of,
    is_local,
    is_media_helper,
)
from edgeqa.calls.resync import parse_duration_s
from edgeqa.calls.transfers import Transfers
from edgeqa.store.records import Event

Handler = Callable[[AmiMessage, float, float], Events]


class AmiHandlers(Transfers):
    """Channel, dial, queue, bridge, hold, recording, transfer and ChanSpy events."""

    def _handlers(self) -> dict[str, Handler]:
        return {
            "Newchannel": self._newchannel, "Newstate": self._newstate,
            "NewCallerid": self._newcallerid, "Hangup": self._hangup,
            "DialBegin": self._dialbegin, "Newexten": self._newexten,
            "OriginateResponse": self._originate_response, "UserEvent": self._user_event,
            "QueueCallerJoin": self._caller_join, "QueueCallerLeave": self._caller_leave,
            "QueueCallerAbandon": self._caller_abandon,
            "AgentCalled": self._agent_called, "AgentConnect": self._agent_connect,
            "AgentComplete": self._agent_complete,
            "BlindTransfer": self._blind_transfer, "AttendedTransfer": self._attended_transfer,
            "BridgeEnter": self._bridge_enter, "BridgeLeave": self._bridge_leave,
            "Hold": self._hold, "Unhold": self._hold,
            "MixMonitorStart": self._mixmonitor, "MixMonitorStop": self._mixmonitor,
            "ChanSpyStart": self._spy_start, "ChanSpyStop": self._spy_stop,
            "QueueMemberRemoved": self._member_removed, "QueueParams": self._queue_params,
            "QueueEntry": self._queue_entry, "CoreShowChannel": self._core_show_channel,
        }

    # -- channels ------------------------------------------------------------------------------

    def _newchannel(self, msg: AmiMessage, ts: float, now: float) -> Events:
        channel, uniqueid = msg.get("Channel") or "", msg.get("Uniqueid") or ""
        if (not uniqueid or is_local(channel) or is_media_helper(channel)
                or uniqueid in self.channels or self._has_ended(uniqueid)):
            return []
        call_id = self._call_id_for(msg.get("Linkedid") or uniqueid)
        leg, events = self._new_leg(uniqueid, channel, call_id, ts, now)
        if leg is None:
            return []
        self._mark_seen(uniqueid)
        leg.caller_id_num = msg.get("CallerIDNum", "") or ""
        leg.caller_id_name = msg.get("CallerIDName", "") or ""
        leg.state = state_name(msg.get("ChannelState"), msg.get("ChannelStateDesc")) or "down"
        if leg.state == "ring" and leg.call_id == uniqueid:
            # An inbound channel that starts its own call: the caller.
            self._default_role(leg, dialled=False)
        elif leg.call_id != uniqueid:
            # Created on behalf of a call (Dial, Queue): the dialled side.
            self._default_role(leg, dialled=True)
        if events:
            events = [Event("leg.added", now, self._leg_data(leg))]
        return events

    def _newstate(self, msg: AmiMessage, ts: float, now: float) -> Events:
        leg = self._leg(msg.get("Uniqueid"), now)
        state = state_name(msg.get("ChannelState"), msg.get("ChannelStateDesc"))
        if leg is None or state is None:
            return []
        before = leg.to_dict()
        self._set_state(leg, state, ts)
        return self._leg_changed(leg, before, now)

    def _newcallerid(self, msg: AmiMessage, ts: float, now: float) -> Events:
        leg = self._leg(msg.get("Uniqueid"), now)
        if leg is None:
            return []
        before = leg.to_dict()
        leg.caller_id_num = msg.get("CallerIDNum", leg.caller_id_num) or ""
        leg.caller_id_name = msg.get("CallerIDName", leg.caller_id_name) or ""
        return self._leg_changed(leg, before, now)

    def _hangup(self, msg: AmiMessage, ts: float, now: float) -> Events:
        uniqueid = msg.get("Uniqueid") or ""
        self._spy_modes.pop(uniqueid, None)
        leg = self.channels.get(uniqueid)
        if leg is None:
            return []
        return self._end_leg(leg, ts, now, msg.get("Cause-txt") or msg.get("Cause"))

    def _dialbegin(self, msg: AmiMessage, ts: float, now: float) -> Events:
        events: Events = []
        caller = self._leg(msg.get("Uniqueid"), now)
        dest = self._leg(msg.get("DestUniqueid"), now)
        if caller is not None:
            before = caller.to_dict()
            self._default_role(caller, dialled=False)
            announced = self._announce(self.calls.get(caller.call_id), now)
            events += announced or self._leg_changed(caller, before, now)
        if dest is not None and (caller is not None or is_local(msg.get("Channel") or "")):
            before = dest.to_dict()
            self._default_role(dest, dialled=True)
            events += self._leg_changed(dest, before, now)
        return events

    def _newexten(self, msg: AmiMessage, ts: float, now: float) -> Events:
        if msg.get("Application") == "ChanSpy":
            self._remember_spy_mode(msg.get("Uniqueid") or "", msg.get("AppData") or "")
        return []

    def _originate_response(self, msg: AmiMessage, ts: float, now: float) -> Events:
        if msg.get("Application") == "ChanSpy":
            self._remember_spy_mode(msg.get("Uniqueid") or "", msg.get("Data") or "")
        return []

    def _user_event(self, msg: AmiMessage, ts: float, now: float) -> Events:
        # asterisk_conf/extensions_edgeqa.conf announces each feature-code spy with its
        # options: the edgeqa AMI user has no "dialplan" read class, so no Newexten.
        if msg.get("UserEvent") == "EdgeqaSpy":
            options = msg.get("Options") or ""
            self._remember_spy_mode(msg.get("Uniqueid") or "", f",{options}")
        return []

    # -- queues --------------------------------------------------------------------------------

    def _caller_join(self, msg: AmiMessage, ts: float, now: float) -> Events:
        leg = self._leg(msg.get("Uniqueid"), now)
        queue = msg.get("Queue") or ""
        joined = self.queues.on_join(msg, ts, now, None if leg is None else leg.call_id)
        call = None if leg is None else self.calls.get(leg.call_id)
        if leg is None or call is None:
            return joined
        return self._enter_queue(leg, call, queue, now) + joined

    def _enter_queue(self, leg: Channel, call: Call, queue: str, now: float) -> Events:
        before, header = leg.to_dict(), call_header(call)
        self._default_role(leg, dialled=False)
        leg.queue = call.queue = queue
        if call.state == CALL_NEW:
            call.state = CALL_QUEUED
        announced = self._announce(call, now)
        if announced:
            return announced
        return self._leg_changed(leg, before, now) + self._call_changed(call, header, now)

    def _caller_leave(self, msg: AmiMessage, ts: float, now: float) -> Events:
        self._leg(msg.get("Uniqueid"), now)
        return self.queues.leave(msg.get("Queue") or "", msg.get("Uniqueid") or "", ts, now)

    def _caller_abandon(self, msg: AmiMessage, ts: float, now: float) -> Events:
        self.queues.on_abandon(msg)
        return []

    def _agent_leg(self, msg: AmiMessage, call: Call, now: float) -> Channel | None:
        """The agent's real leg: DestUniqueid, or behind a Local member, its device's leg."""
        dest = self._leg(msg.get("DestUniqueid"), now)
        if dest is not None:
            return dest
        member = self.queues.member_for(msg.get("Interface") or "")
        devices = {endpoint_of(msg.get("Interface") or "")}
        if member is not None and member.state_interface:
            devices.add(endpoint_of(member.state_interface))
        for leg in call.live_channels():
            if leg.endpoint in devices and leg.role in (ROLE_UNKNOWN, ROLE_AGENT, ROLE_CALLEE):
                return leg
        return None

    def _agent_called(self, msg: AmiMessage, ts: float, now: float) -> Events:
        caller = self._leg(msg.get("Uniqueid"), now)
        call = None if caller is None else self.calls.get(caller.call_id)
        agent = None if call is None else self._agent_leg(msg, call, now)
        if agent is None:
            return []
        before = agent.to_dict()
        agent.role = ROLE_AGENT
        agent.agent_interface = msg.get("Interface") or agent.endpoint
        agent.queue = msg.get("Queue") or agent.queue
        return self._leg_changed(agent, before, now)

    def _agent_connect(self, msg: AmiMessage, ts: float, now: float) -> Events:
        caller = self._leg(msg.get("Uniqueid"), now)
        call = None if caller is None else self.calls.get(caller.call_id)
        if caller is None or call is None:
            return []
        queue = msg.get("Queue") or ""
        events = self._enter_queue(caller, call, queue, now)
        header = call_header(call)
        agent = self._agent_leg(msg, call, now)
        interface = msg.get("Interface") or ""
        if agent is not None:
            before = agent.to_dict()
            agent.role, agent.queue = ROLE_AGENT, queue
            agent.agent_interface = interface or agent.endpoint
            events += self._leg_changed(agent, before, now)
        call.agent_interface = interface or call.agent_interface
        call.agent_name = msg.get("MemberName") or call.agent_name
        call.state = CALL_CONNECTED
        if call.answered_at is None:
            call.answered_at = ts
        events += self._call_changed(call, header, now)
        return events + self._agent_updated(interface, now)

    def _agent_complete(self, msg: AmiMessage, ts: float, now: float) -> Events:
        self._leg(msg.get("Uniqueid"), now)
        return self.queues.on_complete(msg, now)

    def _member(self, msg: AmiMessage, ts: float, now: float) -> Events:
        interface = msg.get("Interface") or msg.get("Location") or ""
        seen = None
        if self._resync is not None and msg.event == "QueueMember":
            seen = self._resync.members
        return self.queues.on_member(msg, now, self._on_call(interface), seen)

    def _member_removed(self, msg: AmiMessage, ts: float, now: float) -> Events:
        return self.queues.on_member_removed(msg, now)

    def _queue_params(self, msg: AmiMessage, ts: float, now: float) -> Events:
        if self._resync is not None:
            self._resync.queues.add(msg.get("Queue") or "")
        return self.queues.on_params(msg, now)

    def _queue_entry(self, msg: AmiMessage, ts: float, now: float) -> Events:
        uniqueid, queue = msg.get("Uniqueid") or "", msg.get("Queue") or ""
        if self._resync is not None:
            self._resync.callers.add((queue, uniqueid))
        leg = self._leg(uniqueid, now)
        since = now - parse_duration_s(msg.get("Wait"))
        joined = self.queues.on_join(msg, ts, now, None if leg is None else leg.call_id, since)
        call = None if leg is None else self.calls.get(leg.call_id)
        if leg is None or call is None:
            return joined
        return self._enter_queue(leg, call, queue, now) + joined

    # -- bridges, hold, recording ----------------------------------------------------------------

    def _bridge_enter(self, msg: AmiMessage, ts: float, now: float) -> Events:
        leg = self._leg(msg.get("Uniqueid"), now)
        call = None if leg is None else self.calls.get(leg.call_id)
        if leg is None or call is None:
            return []
        before, header = leg.to_dict(), call_header(call)
        leg.bridge_id = msg.get("BridgeUniqueid") or None
        self._connect_if_bridged(call, ts)
        announced = self._announce(call, now)
        if announced:
            return announced
        return self._leg_changed(leg, before, now) + self._call_changed(call, header, now)

    def _bridge_leave(self, msg: AmiMessage, ts: float, now: float) -> Events:
        leg = self._leg(msg.get("Uniqueid"), now)
        if leg is None:
            return []
        before = leg.to_dict()
        leg.bridge_id = None
        return self._leg_changed(leg, before, now)

    def _hold(self, msg: AmiMessage, ts: float, now: float) -> Events:
        leg = self._leg(msg.get("Uniqueid"), now)
        call = None if leg is None else self.calls.get(leg.call_id)
        if leg is None or call is None:
            return []
        before, header = leg.to_dict(), call_header(call)
        leg.set_hold(msg.event == "Hold", ts)
        return self._leg_changed(leg, before, now) + self._call_changed(call, header, now)

    def _mixmonitor(self, msg: AmiMessage, ts: float, now: float) -> Events:
        leg = self._leg(msg.get("Uniqueid"), now)
        if leg is None:
            return []
        before = leg.to_dict()
        leg.recording = msg.event == "MixMonitorStart"
        return self._leg_changed(leg, before, now)
