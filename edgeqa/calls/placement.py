"""Placing channels the tracker did not see start: ChanSpy supervisors and resync listings (pure).

A resync (after a (re)connect) lists what Asterisk has now: AMI ``CoreShowChannel`` items and
ARI ``GET /channels`` + ``GET /bridges``. A channel the tracker does not know is placed into
its call (by Linkedid, or for ARI by a bridge peer) and given a role from the application it
runs (Queue, Dial, AppQueue, AppDial, ChanSpy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgeqa.ami.message import AmiMessage
from edgeqa.ari import decode
from edgeqa.calls.channels import Channels
from edgeqa.calls.model import (
    CALL_ENDED,
    CALL_NEW,
    CALL_QUEUED,
    ROLE_AGENT,
    ROLE_SUPERVISOR,
    ROLE_UNKNOWN,
    Call,
    Channel,
    is_local,
    is_media_helper,
    spy_mode_of,
)
from edgeqa.calls.state import Events, TrackerState, call_header, parse_duration_s, state_name
from edgeqa.store.records import Event


def resync_answer_time(call: Call) -> float | None:
    """When a call found bridged by a resync was answered, as well as Asterisk tells.

    Neither CoreShowChannel nor ARI's channel object carries an answer time: CoreShowChannel
    gives ``Duration`` (the channel's age, whole seconds) and ``BridgeId``, ARI ``creationtime``
    (exact; used for a channel's start when the resync read it).
    The call was answered no earlier than its last bridged party's channel was created (the
    agent's or callee's, created when dialled), and usually a ring time after it: that creation
    time is the closest value there is, and far closer than the resync time. A call a previous
    run stored as open keeps its stored answer instead (TrackerState.connect).
    """
    bridged = [c for c in call.live_channels() if c.bridge_id and c.role != ROLE_SUPERVISOR]
    return max((c.started_at for c in bridged), default=None)


class Placement:
    """ChanSpy supervisors join the spied call; resynced channels get their roles back."""

    def __init__(self, state: TrackerState, channels: Channels) -> None:
        self.s = state
        self.channels = channels

    def move(self, channel: Channel, target: Call, now: float) -> Events:
        """Move a channel into ``target``; end (quietly merged) the call it leaves empty."""
        s = self.s
        events: Events = []
        old = s.calls.get(channel.call_id)
        if old is not None:
            old.channels.pop(channel.uniqueid, None)
            if old.announced:
                events.append(Event("leg.removed", now, s.channel_data(channel)))
            if not old.live_channels():
                s.drop_call(old.call_id)
                if old.announced:
                    old.state, old.ended_at = CALL_ENDED, now
                    events.append(Event("call.ended", now, {"call": old.to_dict()}))
        channel.call_id = target.call_id
        target.channels[channel.uniqueid] = channel
        if target.announced:
            events.append(Event("leg.added", now, s.channel_data(channel)))
        return events

    # -- supervisors -----------------------------------------------------------------------------

    def remember_spy_mode(self, uniqueid: str, data: str) -> None:
        if not uniqueid:
            return
        self.s.remember_spy_mode(uniqueid, spy_mode_of(data))
        channel = self.s.channels.get(uniqueid)
        if channel is not None and channel.role == ROLE_SUPERVISOR:
            channel.spy_mode = self.s.spy_modes[uniqueid]

    def newexten(self, msg: AmiMessage, ts: float, now: float) -> Events:
        if msg.get("Application") == "ChanSpy":
            self.remember_spy_mode(msg.get("Uniqueid") or "", msg.get("AppData") or "")
        return []

    def originate_response(self, msg: AmiMessage, ts: float, now: float) -> Events:
        if msg.get("Application") == "ChanSpy":
            self.remember_spy_mode(msg.get("Uniqueid") or "", msg.get("Data") or "")
        return []

    def user_event(self, msg: AmiMessage, ts: float, now: float) -> Events:
        # asterisk_conf/extensions_edgeqa.conf announces each feature-code spy with its
        # options: the edgeqa AMI user has no "dialplan" read class, so no Newexten.
        if msg.get("UserEvent") == "EdgeqaSpy":
            options = msg.get("Options") or ""
            self.remember_spy_mode(msg.get("Uniqueid") or "", f",{options}")
        return []

    def spy_start(self, msg: AmiMessage, ts: float, now: float) -> Events:
        spyer_name = msg.get("SpyerChannel") or ""
        if is_media_helper(spyer_name) or is_local(spyer_name):
            return []  # ARI snoops (Snoop/…) are our own taps, not supervisors (docs/asterisk.md)
        spyee = self.s.touch(msg.get("SpyeeUniqueid"), now)
        if spyee is None:
            return []
        return self.attach_supervisor(msg.get("SpyerUniqueid") or "", spyer_name, spyee, ts, now)

    def attach_supervisor(self, uniqueid: str, name: str, spyee: Channel, ts: float,
                          now: float) -> Events:
        s = self.s
        call = s.calls.get(spyee.call_id)
        if call is None or not uniqueid:
            return []
        header = call_header(call)
        spyer = s.touch(uniqueid, now)
        if spyer is None:
            spyer, _ = self.channels.new(uniqueid, name, call.call_id, ts, now)
            if spyer is None:
                return []
            call.channels.pop(uniqueid)
            spyer.call_id = ""
        before = spyer.to_dict()
        spyer.role, spyer.spying_on = ROLE_SUPERVISOR, spyee.uniqueid
        spyer.spy_mode = s.spy_modes.get(uniqueid, spyer.spy_mode or "listen")
        if spyer.call_id != call.call_id:
            events = self.move(spyer, call, now)
        else:
            events = s.channel_changed(spyer, before, now)
        return events + s.call_changed(call, header, now)

    def spy_stop(self, msg: AmiMessage, ts: float, now: float) -> Events:
        spyer = self.s.touch(msg.get("SpyerUniqueid"), now)
        if spyer is None or spyer.role != ROLE_SUPERVISOR:
            return []
        before = spyer.to_dict()
        spyer.spying_on = None
        return self.s.channel_changed(spyer, before, now)

    # -- resync ----------------------------------------------------------------------------------

    def core_show_channel(self, msg: AmiMessage, ts: float, now: float) -> Events:
        s = self.s
        name, uniqueid = msg.get("Channel") or "", msg.get("Uniqueid") or ""
        if not uniqueid or is_local(name) or is_media_helper(name) or s.has_ended(uniqueid):
            return []
        s.mark_seen(uniqueid)
        state = state_name(msg.get("ChannelState"), msg.get("ChannelStateDesc")) or "down"
        channel = s.touch(uniqueid, now)
        if channel is not None:
            before = channel.to_dict()
            self.channels.set_state(channel, state, now)
            channel.bridge_id = msg.get("BridgeId") or None
            return s.channel_changed(channel, before, now)
        # Duration is the channel's age in whole seconds; ARI's creationtime, when the resync
        # read it, is exact to the millisecond.
        created = None if s.resync is None else s.resync.created.get(uniqueid)
        started = now - parse_duration_s(msg.get("Duration")) if created is None else created
        channel, events = self.channels.new(
            uniqueid, name, s.call_id_for(msg.get("Linkedid") or uniqueid), started, now)
        if channel is None:
            return []
        channel.caller_id_num = msg.get("CallerIDNum", "") or ""
        channel.caller_id_name = msg.get("CallerIDName", "") or ""
        self.channels.set_state(channel, state, started)
        channel.bridge_id = msg.get("BridgeId") or None
        return events + self.role_from_app(
            channel, msg.get("Application") or "", msg.get("ApplicationData") or "", now)

    def ari_channels(self, channels: Sequence[Mapping[str, Any]],
                     bridges: Sequence[Mapping[str, Any]], now: float) -> Events:
        """GET /channels and GET /bridges: refresh known channels, place unknown ones.

        ARI gives no Linkedid: an unknown channel joins the call of a known channel in its
        bridge, or starts a call of its own (announced only if it is bridged or dialling).
        """
        s = self.s
        events: Events = []
        bridge_of = decode.bridge_members(bridges)
        snaps = [x for x in (decode.channel_snapshot(c, now) for c in channels)
                 if x is not None and not is_media_helper(x.name) and not is_local(x.name)
                 and not s.has_ended(x.uniqueid)]
        snaps.sort(key=lambda x: x.app == "ChanSpy")
        for snap in snaps:
            s.mark_seen(snap.uniqueid)
            bridge_id = bridge_of.get(snap.uniqueid)
            channel = s.touch(snap.uniqueid, now)
            if channel is not None:
                before = channel.to_dict()
                self.channels.set_state(channel, snap.state, now)
                channel.bridge_id = bridge_id
                events += s.channel_changed(channel, before, now)
                continue
            peers = [s.channels[u] for u, b in bridge_of.items()
                     if bridge_id is not None and b == bridge_id and u in s.channels]
            call_id = peers[0].call_id if peers else snap.uniqueid
            channel, made = self.channels.new(snap.uniqueid, snap.name, call_id,
                                              snap.started_at, now)
            if channel is None:
                continue
            channel.caller_id_num, channel.caller_id_name = snap.caller_num, snap.caller_name
            self.channels.set_state(channel, snap.state, snap.started_at)
            channel.bridge_id = bridge_id
            events += made + self.role_from_app(channel, snap.app, snap.app_data, now)
        return events

    def role_from_app(self, channel: Channel, app: str, app_data: str, now: float) -> Events:
        """Place a channel found by a resync from the application it is running."""
        s = self.s
        call = s.calls.get(channel.call_id)
        if call is None:
            return []
        if app == "ChanSpy":
            self.remember_spy_mode(channel.uniqueid, app_data)
            prefix = app_data.split(",", 1)[0]
            spyee = next((other for other in s.channels.values()
                          if prefix and other.channel.startswith(prefix)
                          and other.role != ROLE_SUPERVISOR and other is not channel), None)
            if spyee is None:
                return []
            return self.attach_supervisor(channel.uniqueid, channel.channel, spyee, now, now)
        header, before = call_header(call), channel.to_dict()
        if app == "Queue":
            self.channels.default_role(channel, dialled=False)
            channel.queue = call.queue = app_data.split(",", 1)[0]
            if call.state == CALL_NEW:
                call.state = CALL_QUEUED
        elif app in ("AppDial", "AppDial2", "AppQueue"):
            # Asterisk 22 lists a queue member's channel as AppQueue, a Dial()led one as AppDial.
            if app == "AppQueue" and channel.role == ROLE_UNKNOWN:
                member = s.queues.member_for(channel.endpoint)
                channel.role = ROLE_AGENT
                channel.agent_interface = member.interface if member else channel.endpoint
                channel.queue = call.queue
            self.channels.default_role(channel, dialled=True)
            if channel.role == ROLE_AGENT and call.agent_interface is None:
                call.agent_interface = channel.agent_interface
                member = s.queues.member_for(channel.agent_interface or "")
                call.agent_name = member.name if member is not None else None
        elif app == "Dial" or channel.call_id == channel.uniqueid:
            self.channels.default_role(channel, dialled=False)
        s.connect_if_bridged(call, resync_answer_time(call) or now)
        if app in ("Queue", "Dial") or channel.bridge_id:
            announced = s.announce(call, now)
            if announced:
                return announced
        return s.channel_changed(channel, before, now) + s.call_changed(call, header, now)
