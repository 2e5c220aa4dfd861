"""Blind and attended transfers: the call stays one call, its channels keep their roles (pure).

AMI ``BlindTransfer`` and ``AttendedTransfer`` (Asterisk 12+, read class ``call``) are raised
when a transfer completes. A blind transfer keeps every channel in its call: the transferee
dials the target from the dialplan, and that new channel inherits the transferee's Linkedid.
An attended transfer joins two calls, each with its own Linkedid (the transferer's
consultation call is a call of its own): the call that started first absorbs the other one's
live channels, the transferer's consultation channel takes the role of its first channel, and
every channel of the absorbed call, hung up or not, ends in the kept call.
"""

from __future__ import annotations

from edgeqa.ami.message import AmiMessage
from edgeqa.calls.model import (
    MAX_TRANSFERS_PER_CALL,
    TRANSFER_ATTENDED,
    TRANSFER_BLIND,
    Call,
    Channel,
    Transfer,
)
from edgeqa.calls.placement import Placement
from edgeqa.calls.state import MAX_CHANNELS_PER_CALL, Events, TrackerState, call_header


def _record(call: Call, transfer: Transfer) -> None:
    if len(call.transfers) >= MAX_TRANSFERS_PER_CALL:
        del call.transfers[0]
    call.transfers.append(transfer)


def _take_role(channel: Channel, model: Channel) -> None:
    """The transferer's consultation channel is the same party as its first channel."""
    channel.role, channel.agent_interface = model.role, model.agent_interface
    channel.queue = model.queue


class Transfers:
    """BlindTransfer / AttendedTransfer handlers.

    The transferer often hangs up at once, and ARI's ChannelDestroyed may beat AMI's event:
    the parties are looked up among hung-up channels of ongoing calls too (``any_channel``).
    """

    def __init__(self, state: TrackerState, placement: Placement) -> None:
        self.s = state
        self.placement = placement

    def blind(self, msg: AmiMessage, ts: float, now: float) -> Events:
        s = self.s
        if msg.get("Result") != "Success":
            return []
        transferer_id = msg.get("TransfererUniqueid") or None
        transferee_id = msg.get("TransfereeUniqueid") or None
        anchor = s.any_channel(transferee_id, now) or s.any_channel(transferer_id, now)
        call = None if anchor is None else s.calls.get(anchor.call_id)
        if call is None:
            return []
        header = call_header(call)
        exten, context = msg.get("Extension") or "", msg.get("Context") or ""
        target = f"{exten}@{context}" if exten and context else exten or None
        _record(call, Transfer(TRANSFER_BLIND, ts, transferer_id, transferee_id, target))
        return s.call_changed(call, header, now)

    def attended(self, msg: AmiMessage, ts: float, now: float) -> Events:
        s = self.s
        if msg.get("Result") != "Success":
            return []
        first = s.any_channel(msg.get("OrigTransfererUniqueid"), now)
        second = s.any_channel(msg.get("SecondTransfererUniqueid"), now)
        transferee = s.any_channel(msg.get("TransfereeUniqueid"), now)
        target = s.any_channel(msg.get("TransferTargetUniqueid"), now)
        calls = {c.call_id: s.calls[c.call_id]
                 for c in (first, second, transferee, target)
                 if c is not None and c.call_id in s.calls}
        if not calls:
            return []
        kept = min(calls.values(), key=lambda c: (c.started_at, c.call_id))
        header = call_header(kept)
        if first is not None and second is not None:
            _take_role(second, first)
        events: Events = []
        for other in sorted(calls.values(), key=lambda c: c.call_id):
            if other is not kept:
                events += self._absorb(kept, other, now)
        _record(kept, Transfer(
            TRANSFER_ATTENDED, ts, msg.get("OrigTransfererUniqueid") or None,
            msg.get("TransfereeUniqueid") or None, msg.get("TransferTargetUniqueid") or None))
        return events + s.call_changed(kept, header, now)

    def _absorb(self, kept: Call, other: Call, now: float) -> Events:
        """Move ``other``'s channels into ``kept``; ``other`` ends (merged) when emptied.

        Its hung-up channels move too, without events (their leg.removed was sent): the
        transferer's consultation line often hangs up before AMI's AttendedTransfer arrives,
        and the merged call must not depend on that race.
        """
        self.s.note_merged(other.call_id, kept.call_id)
        if kept.queue is None and other.queue is not None:
            kept.queue = other.queue
        for channel in [c for c in other.channels.values() if c.ended_at is not None]:
            if len(kept.channels) >= MAX_CHANNELS_PER_CALL - len(other.live_channels()):
                break  # room for the live ones first; the rest stay in the merged call
            del other.channels[channel.uniqueid]
            channel.call_id = kept.call_id
            kept.channels[channel.uniqueid] = channel
        events: Events = []
        for channel in sorted(other.live_channels(), key=lambda c: (c.started_at, c.uniqueid)):
            events += self.placement.move(channel, kept, now)
        return events
