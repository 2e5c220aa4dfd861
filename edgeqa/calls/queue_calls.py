"""Calls in queues: callers joining and leaving, agents called and connected, members (pure).

``QueueBook`` (queues.py) keeps the queues themselves; this collaborator ties its events to
the calls and channels of the tracker's state.
"""

from __future__ import annotations

from edgeqa.ami.message import AmiMessage
from edgeqa.calls.channels import Channels
from edgeqa.calls.model import (
    CALL_NEW,
    CALL_QUEUED,
    ROLE_AGENT,
    ROLE_CALLEE,
    ROLE_UNKNOWN,
    Call,
    Channel,
    endpoint_of,
)
from edgeqa.calls.state import Events, TrackerState, call_header, parse_duration_s


class QueueCalls:
    """AMI queue events: QueueCaller*, Agent*, QueueMember*, QueueParams, QueueEntry."""

    def __init__(self, state: TrackerState, channels: Channels) -> None:
        self.s = state
        self.channels = channels

    def enter_queue(self, channel: Channel, call: Call, queue: str, now: float) -> Events:
        """The caller's channel is in ``queue``: the call is queued (and announced)."""
        s = self.s
        before, header = channel.to_dict(), call_header(call)
        self.channels.default_role(channel, dialled=False)
        channel.queue = call.queue = queue
        if call.state == CALL_NEW:
            call.state = CALL_QUEUED
        announced = s.announce(call, now)
        if announced:
            return announced
        return s.channel_changed(channel, before, now) + s.call_changed(call, header, now)

    def _join(self, msg: AmiMessage, ts: float, now: float, since: float | None) -> Events:
        s = self.s
        channel = s.touch(msg.get("Uniqueid"), now)
        joined = s.queues.on_join(msg, ts, now, None if channel is None else channel.call_id,
                                  since)
        call = None if channel is None else s.calls.get(channel.call_id)
        if channel is None or call is None:
            return joined
        return self.enter_queue(channel, call, msg.get("Queue") or "", now) + joined

    def caller_join(self, msg: AmiMessage, ts: float, now: float) -> Events:
        return self._join(msg, ts, now, None)

    def queue_entry(self, msg: AmiMessage, ts: float, now: float) -> Events:
        """QueueStatus' QueueEntry (resync): a waiting caller, waiting since ``Wait`` ago."""
        if self.s.resync is not None:
            self.s.resync.callers.add((msg.get("Queue") or "", msg.get("Uniqueid") or ""))
        return self._join(msg, ts, now, now - parse_duration_s(msg.get("Wait")))

    def caller_leave(self, msg: AmiMessage, ts: float, now: float) -> Events:
        self.s.touch(msg.get("Uniqueid"), now)
        return self.s.queues.leave(msg.get("Queue") or "", msg.get("Uniqueid") or "", ts, now)

    def caller_abandon(self, msg: AmiMessage, ts: float, now: float) -> Events:
        self.s.queues.on_abandon(msg)
        return []

    def agent_channel(self, msg: AmiMessage, call: Call, now: float) -> Channel | None:
        """The agent's real channel: DestUniqueid, or behind a Local member, its device's."""
        dest = self.s.touch(msg.get("DestUniqueid"), now)
        if dest is not None:
            return dest
        member = self.s.queues.member_for(msg.get("Interface") or "")
        devices = {endpoint_of(msg.get("Interface") or "")}
        if member is not None and member.state_interface:
            devices.add(endpoint_of(member.state_interface))
        for channel in call.live_channels():
            if channel.endpoint in devices and channel.role in (ROLE_UNKNOWN, ROLE_AGENT,
                                                                ROLE_CALLEE):
                return channel
        return None

    def _caller_call(self, msg: AmiMessage, now: float) -> tuple[Channel, Call] | None:
        caller = self.s.touch(msg.get("Uniqueid"), now)
        call = None if caller is None else self.s.calls.get(caller.call_id)
        return None if caller is None or call is None else (caller, call)

    def agent_called(self, msg: AmiMessage, ts: float, now: float) -> Events:
        found = self._caller_call(msg, now)
        agent = None if found is None else self.agent_channel(msg, found[1], now)
        if agent is None:
            return []
        before = agent.to_dict()
        agent.role = ROLE_AGENT
        agent.agent_interface = msg.get("Interface") or agent.endpoint
        agent.queue = msg.get("Queue") or agent.queue
        return self.s.channel_changed(agent, before, now)

    def agent_connect(self, msg: AmiMessage, ts: float, now: float) -> Events:
        s = self.s
        found = self._caller_call(msg, now)
        if found is None:
            return []
        caller, call = found
        queue = msg.get("Queue") or ""
        events = self.enter_queue(caller, call, queue, now)
        header = call_header(call)
        agent = self.agent_channel(msg, call, now)
        interface = msg.get("Interface") or ""
        if agent is not None:
            before = agent.to_dict()
            agent.role, agent.queue = ROLE_AGENT, queue
            agent.agent_interface = interface or agent.endpoint
            events += s.channel_changed(agent, before, now)
        call.agent_interface = interface or call.agent_interface
        call.agent_name = msg.get("MemberName") or call.agent_name
        s.connect(call, ts)
        events += s.call_changed(call, header, now)
        return events + self.channels.agent_updated(interface, now)

    def agent_complete(self, msg: AmiMessage, ts: float, now: float) -> Events:
        self.s.touch(msg.get("Uniqueid"), now)
        return self.s.queues.on_complete(msg, now)

    def member(self, msg: AmiMessage, ts: float, now: float) -> Events:
        """QueueMember* events, and QueueStatus' QueueMember (resync)."""
        interface = msg.get("Interface") or msg.get("Location") or ""
        seen = None
        if self.s.resync is not None and msg.event == "QueueMember":
            seen = self.s.resync.members
        return self.s.queues.on_member(msg, now, self.channels.on_call(interface), seen)

    def member_removed(self, msg: AmiMessage, ts: float, now: float) -> Events:
        return self.s.queues.on_member_removed(msg, now)

    def queue_params(self, msg: AmiMessage, ts: float, now: float) -> Events:
        if self.s.resync is not None:
            self.s.resync.queues.add(msg.get("Queue") or "")
        return self.s.queues.on_params(msg, now)
