"""Holds: AMI Hold/Unhold and ARI ChannelHold/ChannelUnhold, as intervals per channel (pure).

Asterisk reports one hold twice when both links are up (AMI ``Hold`` and ARI ``ChannelHold``);
``Channel.set_hold`` ignores a repeat of the current state, so the second opens nothing. Each
change is applied at the event's own time (AMI ``Timestamp``, ARI ``timestamp``), never at the
time it was read. A call is on hold while any of its live channels is.
"""

from __future__ import annotations

from edgeqa.ami.message import AmiMessage
from edgeqa.ari.decode import ChannelChange
from edgeqa.calls.model import Channel
from edgeqa.calls.state import Events, TrackerState, call_header


class Holds:
    """Opens and closes hold intervals; reports the channel and the call that changed."""

    def __init__(self, state: TrackerState) -> None:
        self.s = state

    def set(self, channel: Channel, on_hold: bool, ts: float, now: float) -> Events:
        """Put ``channel`` on (or off) hold at ``ts``; leg.updated and call.updated if changed."""
        call = self.s.calls.get(channel.call_id)
        if call is None:
            return []
        before, header = channel.to_dict(), call_header(call)
        channel.set_hold(on_hold, ts)
        return self.s.channel_changed(channel, before, now) + \
            self.s.call_changed(call, header, now)

    def ami(self, msg: AmiMessage, ts: float, now: float) -> Events:
        """AMI Hold / Unhold."""
        channel = self.s.touch(msg.get("Uniqueid"), now)
        if channel is None:
            return []
        return self.set(channel, msg.event == "Hold", ts, now)

    def ari(self, change: ChannelChange, channel: Channel, now: float) -> Events:
        """ARI ChannelHold / ChannelUnhold of a known channel."""
        if change.on_hold is None:
            return []
        return self.set(channel, change.on_hold, change.ts, now)
