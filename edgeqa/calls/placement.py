"""Placing legs the tracker did not see start: ChanSpy supervisors and resync listings (pure)."""

from __future__ import annotations

from edgeqa.ami.message import AmiMessage
from edgeqa.calls.core import Events, TrackerCore, call_header, state_name
from edgeqa.calls.model import (
    CALL_CONNECTED,
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
)
from edgeqa.calls.resync import parse_duration_s
from edgeqa.store.records import Event


class Placement(TrackerCore):
    """ChanSpy supervisors join the spied call; resynced channels get their roles back."""

    def _connect_if_bridged(self, call: Call, ts: float) -> None:
        """Two non-supervisor legs in one bridge: the call is connected."""
        if call.state in (CALL_CONNECTED, CALL_ENDED):
            return
        bridges = [leg.bridge_id for leg in call.live_channels()
                   if leg.bridge_id and leg.role != ROLE_SUPERVISOR]
        if any(bridges.count(bridge) >= 2 for bridge in bridges):
            call.state = CALL_CONNECTED
            if call.answered_at is None:
                call.answered_at = ts

    # -- supervisors -----------------------------------------------------------------------------

    def _spy_start(self, msg: AmiMessage, ts: float, now: float) -> Events:
        spyer_channel = msg.get("SpyerChannel") or ""
        if is_media_helper(spyer_channel) or is_local(spyer_channel):
            return []  # ARI snoops (Snoop/…) are our own taps, not supervisors (NOTES.md)
        spyee = self._leg(msg.get("SpyeeUniqueid"), now)
        if spyee is None:
            return []
        return self._attach_supervisor(msg.get("SpyerUniqueid") or "", spyer_channel, spyee,
                                       ts, now)

    def _attach_supervisor(self, uniqueid: str, channel: str, spyee: Channel, ts: float,
                           now: float) -> Events:
        call = self.calls.get(spyee.call_id)
        if call is None or not uniqueid:
            return []
        header = call_header(call)
        spyer = self._leg(uniqueid, now)
        if spyer is None:
            spyer, _ = self._new_leg(uniqueid, channel, call.call_id, ts, now)
            if spyer is None:
                return []
            call.channels.pop(uniqueid)
            spyer.call_id = ""
        before = spyer.to_dict()
        spyer.role, spyer.spying_on = ROLE_SUPERVISOR, spyee.uniqueid
        spyer.spy_mode = self._spy_modes.get(uniqueid, spyer.spy_mode or "listen")
        if spyer.call_id != call.call_id:
            events = self._move_leg(spyer, call, now)
        else:
            events = self._leg_changed(spyer, before, now)
        return events + self._call_changed(call, header, now)

    def _move_leg(self, leg: Channel, target: Call, now: float) -> Events:
        """Move a leg (a supervisor's own channel) into ``target``; drop what it leaves empty."""
        events: Events = []
        old = self.calls.get(leg.call_id)
        if old is not None:
            old.channels.pop(leg.uniqueid, None)
            if old.announced:
                events.append(Event("leg.removed", now, self._leg_data(leg)))
            if not old.live_channels():
                self._drop_call(old.call_id)
                if old.announced:
                    old.state, old.ended_at = CALL_ENDED, now
                    events.append(Event("call.ended", now, {"call": old.to_dict()}))
        leg.call_id = target.call_id
        target.channels[leg.uniqueid] = leg
        if target.announced:
            events.append(Event("leg.added", now, self._leg_data(leg)))
        return events

    def _spy_stop(self, msg: AmiMessage, ts: float, now: float) -> Events:
        spyer = self._leg(msg.get("SpyerUniqueid"), now)
        if spyer is None or spyer.role != ROLE_SUPERVISOR:
            return []
        before = spyer.to_dict()
        spyer.spying_on = None
        return self._leg_changed(spyer, before, now)

    # -- resync ----------------------------------------------------------------------------------

    def _core_show_channel(self, msg: AmiMessage, ts: float, now: float) -> Events:
        channel, uniqueid = msg.get("Channel") or "", msg.get("Uniqueid") or ""
        if not uniqueid or is_local(channel) or is_media_helper(channel):
            return []
        if self._has_ended(uniqueid):
            return []
        self._mark_seen(uniqueid)
        state = state_name(msg.get("ChannelState"), msg.get("ChannelStateDesc")) or "down"
        leg = self._leg(uniqueid, now)
        if leg is not None:
            before = leg.to_dict()
            self._set_state(leg, state, now)
            leg.bridge_id = msg.get("BridgeId") or None
            return self._leg_changed(leg, before, now)
        started = now - parse_duration_s(msg.get("Duration"))
        leg, events = self._new_leg(uniqueid, channel,
                                    self._call_id_for(msg.get("Linkedid") or uniqueid),
                                    started, now)
        if leg is None:
            return []
        leg.caller_id_num = msg.get("CallerIDNum", "") or ""
        leg.caller_id_name = msg.get("CallerIDName", "") or ""
        self._set_state(leg, state, started)
        leg.bridge_id = msg.get("BridgeId") or None
        return events + self._role_from_app(
            leg, msg.get("Application") or "", msg.get("ApplicationData") or "", now)

    def _role_from_app(self, leg: Channel, app: str, app_data: str, now: float) -> Events:
        """Place a leg found by a resync from the application it is running."""
        call = self.calls.get(leg.call_id)
        if call is None:
            return []
        if app == "ChanSpy":
            self._remember_spy_mode(leg.uniqueid, app_data)
            prefix = app_data.split(",", 1)[0]
            spyee = next((other for other in self.channels.values()
                          if prefix and other.channel.startswith(prefix)
                          and other.role != ROLE_SUPERVISOR and other is not leg), None)
            if spyee is None:
                return []
            return self._attach_supervisor(leg.uniqueid, leg.channel, spyee, now, now)
        header, before = call_header(call), leg.to_dict()
        if app == "Queue":
            self._default_role(leg, dialled=False)
            leg.queue = call.queue = app_data.split(",", 1)[0]
            if call.state == CALL_NEW:
                call.state = CALL_QUEUED
        elif app in ("AppDial", "AppDial2", "AppQueue"):
            # Asterisk 22 lists a queue member's leg as AppQueue, a Dial()led one as AppDial.
            if app == "AppQueue" and leg.role == ROLE_UNKNOWN:
                member = self.queues.member_for(leg.endpoint)
                leg.role = ROLE_AGENT
                leg.agent_interface = member.interface if member else leg.endpoint
                leg.queue = call.queue
            self._default_role(leg, dialled=True)
            if leg.role == ROLE_AGENT and call.agent_interface is None:
                call.agent_interface = leg.agent_interface
                member = self.queues.member_for(leg.agent_interface or "")
                call.agent_name = member.name if member is not None else None
        elif app == "Dial" or leg.call_id == leg.uniqueid:
            self._default_role(leg, dialled=False)
        self._connect_if_bridged(call, now)
        if app in ("Queue", "Dial") or leg.bridge_id:
            announced = self._announce(call, now)
            if announced:
                return announced
        return self._leg_changed(leg, before, now) + self._call_changed(call, header, now)
