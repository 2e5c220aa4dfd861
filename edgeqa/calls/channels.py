"""Channels: their birth, state, caller id, dialling, bridging, recording and hang-up (pure)."""

from __future__ import annotations

from edgeqa.ami.message import AmiMessage
from edgeqa.ari.decode import ChannelChange
from edgeqa.calls.model import (
    CALL_ENDED,
    CHANNEL_HUNGUP,
    ROLE_AGENT,
    ROLE_CALLEE,
    ROLE_CUSTOMER,
    ROLE_SUPERVISOR,
    ROLE_UNKNOWN,
    Channel,
    endpoint_of,
    is_local,
    is_media_helper,
)
from edgeqa.calls.state import (
    MAX_CHANNELS_PER_CALL,
    Events,
    TrackerState,
    call_header,
    state_name,
)
from edgeqa.store.records import Event


class Channels:
    """Channel lifecycle on the shared state; the AMI/ARI handlers of plain channel events."""

    def __init__(self, state: TrackerState) -> None:
        self.s = state

    # -- bookkeeping shared by every collaborator ------------------------------------------------

    def new(self, uniqueid: str, name: str, call_id: str, ts: float,
            now: float) -> tuple[Channel | None, Events]:
        """Add a channel to call ``call_id`` (created if new); leg.added if it is announced."""
        s = self.s
        call = s.calls.get(call_id)
        if call is None and s.is_ended_call(call_id):
            # Only a late (reordered) event can name a call that ended: it stays ended.
            return None, []
        if call is None:
            call = s.new_call(call_id, ts)
            if call is None:
                return None, []
        call.started_at = min(call.started_at, ts)
        if len(call.channels) >= MAX_CHANNELS_PER_CALL:
            s.dropped += 1
            return None, []
        channel = Channel(uniqueid=uniqueid, channel=name, call_id=call_id, started_at=ts,
                          last_seen=now)
        call.channels[uniqueid] = channel
        s.channels[uniqueid] = channel
        if not call.announced:
            return channel, []
        return channel, [Event("leg.added", now, s.channel_data(channel))]

    def set_state(self, channel: Channel, state: str, ts: float) -> None:
        answered = state == "up" and channel.state != "up"
        channel.state = state
        if state == "up" and channel.answered_at is None:
            channel.answered_at = ts
        if answered and channel.role == ROLE_AGENT:
            # Asterisk sends the agent's QueueMemberStatus (in use) before QueueCallerLeave:
            # from here on the caller is no longer listed as waiting.
            self.s.queues.answered(channel.call_id, channel.uniqueid)

    def end(self, channel: Channel, ts: float, now: float, cause: str | None) -> Events:
        """The channel hung up at ``ts``; the call ends with its last non-supervisor channel."""
        s = self.s
        call = s.calls.get(channel.call_id)
        header = None if call is None else call_header(call)
        channel.set_hold(False, ts)
        channel.ended_at, channel.hangup_cause, channel.state = ts, cause or None, CHANNEL_HUNGUP
        s.channels.pop(channel.uniqueid, None)
        s.note_ended(channel.uniqueid)
        events = s.queues.leave_everywhere(channel.uniqueid, ts, now, "hangup")
        events += s.queues.release(channel.uniqueid, now)
        if call is None or header is None or call.channels.get(channel.uniqueid) is not channel:
            return events
        if call.announced:
            events.append(Event("leg.removed", now, s.channel_data(channel)))
        if channel.role == ROLE_AGENT and channel.agent_interface:
            events += self.agent_updated(channel.agent_interface, now)
        if any(other.role != ROLE_SUPERVISOR for other in call.live_channels()):
            return events + s.call_changed(call, header, now)
        call.ended_at, call.state = ts, CALL_ENDED
        s.drop_call(call.call_id)
        for other in call.live_channels():
            s.channels.pop(other.uniqueid, None)
        if call.announced:
            events.append(Event("call.ended", now, {"call": call.to_dict()}))
        return events

    def default_role(self, channel: Channel, dialled: bool) -> None:
        """A queue member's device is an agent; else the dialled side a callee, the other a
        customer. A role already known is kept."""
        if channel.role != ROLE_UNKNOWN:
            return
        queues = self.s.queues
        if channel.endpoint in queues.agent_endpoints():
            channel.role = ROLE_AGENT
            member = queues.member_for(channel.endpoint)
            channel.agent_interface = member.interface if member else channel.endpoint
        else:
            channel.role = ROLE_CALLEE if dialled else ROLE_CUSTOMER

    def on_call(self, interface: str) -> str | None:
        """The call the agent ``interface`` (or its device) is on, if any."""
        member = self.s.queues.member_for(interface)
        names = {interface, endpoint_of(interface)}
        if member is not None and member.state_interface:
            names.add(member.state_interface)
        for channel in self.s.channels.values():
            if channel.role == ROLE_AGENT and (channel.agent_interface in names
                                               or channel.endpoint in names):
                return channel.call_id
        return None

    def agent_updated(self, interface: str, now: float) -> Events:
        queues = self.s.queues
        if interface not in queues.interfaces():
            return []
        data = {"agent": queues.agent_dict(interface, self.on_call(interface))}
        return [Event("agent.updated", now, data)]

    # -- AMI -------------------------------------------------------------------------------------

    def newchannel(self, msg: AmiMessage, ts: float, now: float) -> Events:
        s = self.s
        name, uniqueid = msg.get("Channel") or "", msg.get("Uniqueid") or ""
        if (not uniqueid or is_local(name) or is_media_helper(name)
                or uniqueid in s.channels or s.has_ended(uniqueid)):
            return []
        channel, events = self.new(uniqueid, name, s.call_id_for(msg.get("Linkedid") or uniqueid),
                                   ts, now)
        if channel is None:
            return []
        s.mark_seen(uniqueid)
        channel.caller_id_num = msg.get("CallerIDNum", "") or ""
        channel.caller_id_name = msg.get("CallerIDName", "") or ""
        channel.state = state_name(msg.get("ChannelState"), msg.get("ChannelStateDesc")) or "down"
        if channel.state == "ring" and channel.call_id == uniqueid:
            self.default_role(channel, dialled=False)  # an inbound channel starting its call
        elif channel.call_id != uniqueid:
            self.default_role(channel, dialled=True)  # created for a call (Dial, Queue)
        if events:  # with the role just given
            events = [Event("leg.added", now, s.channel_data(channel))]
        return events

    def newstate(self, msg: AmiMessage, ts: float, now: float) -> Events:
        channel = self.s.touch(msg.get("Uniqueid"), now)
        state = state_name(msg.get("ChannelState"), msg.get("ChannelStateDesc"))
        if channel is None or state is None:
            return []
        before = channel.to_dict()
        self.set_state(channel, state, ts)
        return self.s.channel_changed(channel, before, now)

    def newcallerid(self, msg: AmiMessage, ts: float, now: float) -> Events:
        channel = self.s.touch(msg.get("Uniqueid"), now)
        if channel is None:
            return []
        before = channel.to_dict()
        channel.caller_id_num = msg.get("CallerIDNum", channel.caller_id_num) or ""
        channel.caller_id_name = msg.get("CallerIDName", channel.caller_id_name) or ""
        return self.s.channel_changed(channel, before, now)

    def hangup(self, msg: AmiMessage, ts: float, now: float) -> Events:
        uniqueid = msg.get("Uniqueid") or ""
        self.s.spy_modes.pop(uniqueid, None)
        channel = self.s.channels.get(uniqueid)
        if channel is None:
            return []
        return self.end(channel, ts, now, msg.get("Cause-txt") or msg.get("Cause"))

    def dialbegin(self, msg: AmiMessage, ts: float, now: float) -> Events:
        s = self.s
        events: Events = []
        caller = s.touch(msg.get("Uniqueid"), now)
        dest = s.touch(msg.get("DestUniqueid"), now)
        if caller is not None:
            before = caller.to_dict()
            self.default_role(caller, dialled=False)
            announced = s.announce(s.calls.get(caller.call_id), now)
            events += announced or s.channel_changed(caller, before, now)
        if dest is not None and (caller is not None or is_local(msg.get("Channel") or "")):
            before = dest.to_dict()
            self.default_role(dest, dialled=True)
            events += s.channel_changed(dest, before, now)
        return events

    def bridge_enter(self, msg: AmiMessage, ts: float, now: float) -> Events:
        s = self.s
        channel = s.touch(msg.get("Uniqueid"), now)
        call = None if channel is None else s.calls.get(channel.call_id)
        if channel is None or call is None:
            return []
        before, header = channel.to_dict(), call_header(call)
        channel.bridge_id = msg.get("BridgeUniqueid") or None
        s.connect_if_bridged(call, ts)
        announced = s.announce(call, now)
        if announced:
            return announced
        return s.channel_changed(channel, before, now) + s.call_changed(call, header, now)

    def bridge_leave(self, msg: AmiMessage, ts: float, now: float) -> Events:
        channel = self.s.touch(msg.get("Uniqueid"), now)
        if channel is None:
            return []
        before = channel.to_dict()
        channel.bridge_id = None
        return self.s.channel_changed(channel, before, now)

    def mixmonitor(self, msg: AmiMessage, ts: float, now: float) -> Events:
        channel = self.s.touch(msg.get("Uniqueid"), now)
        if channel is None:
            return []
        before = channel.to_dict()
        channel.recording = msg.event == "MixMonitorStart"
        return self.s.channel_changed(channel, before, now)

    # -- ARI -------------------------------------------------------------------------------------

    def ari_state(self, change: ChannelChange, channel: Channel, now: float) -> Events:
        """ChannelStateChange of a known channel."""
        if change.state is None:
            return []
        before = channel.to_dict()
        self.set_state(channel, change.state, change.ts)
        return self.s.channel_changed(channel, before, now)

    def ari_destroyed(self, change: ChannelChange, channel: Channel, now: float) -> Events:
        """ChannelDestroyed of a known channel: it hung up."""
        return self.end(channel, change.ts, now, change.cause)
