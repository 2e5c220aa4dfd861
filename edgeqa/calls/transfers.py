"""Blind and attended transfers: the call stays one call, its legs keep their roles (pure).

AMI ``BlindTransfer`` and ``AttendedTransfer`` (Asterisk 12+, read class ``call``) are raised
when a transfer completes. A blind transfer keeps every leg in its call: the transferee dials
the target from the dialplan, and that new channel inherits the transferee's Linkedid. An
attended transfer joins two calls, each with its own Linkedid (the transferer's consultation
call is a call of its own): the call that started first absorbs the other one's live legs, and
the transferer's consultation leg takes the role of its first leg, and every leg of the
absorbed call, hung up or not, ends in the kept call.
"""

from __future__ import annotations

from edgeqa.ami.message import AmiMessage
from edgeqa.calls.core import MAX_CHANNELS_PER_CALL, Events, call_header
from edgeqa.calls.model import (
    MAX_TRANSFERS_PER_CALL,
    TRANSFER_ATTENDED,
    TRANSFER_BLIND,
    Call,
    Channel,
    Transfer,
)
from edgeqa.calls.placement import Placement


class Transfers(Placement):
    """BlindTransfer / AttendedTransfer handlers."""

    def _record_transfer(self, call: Call, transfer: Transfer) -> None:
        if len(call.transfers) >= MAX_TRANSFERS_PER_CALL:
            del call.transfers[0]
        call.transfers.append(transfer)

    def _any_leg(self, uniqueid: str | None, now: float) -> Channel | None:
        """A live leg, or one that already hung up in a call still going on.

        The transferer often hangs up at once: ARI's ChannelDestroyed may beat AMI's event.
        """
        leg = self._leg(uniqueid, now)
        if leg is not None or not uniqueid:
            return leg
        return next((c.channels[uniqueid] for c in self.calls.values()
                     if uniqueid in c.channels), None)

    def _blind_transfer(self, msg: AmiMessage, ts: float, now: float) -> Events:
        if msg.get("Result") != "Success":
            return []
        transferer_id = msg.get("TransfererUniqueid") or None
        transferee_id = msg.get("TransfereeUniqueid") or None
        anchor = self._any_leg(transferee_id, now) or self._any_leg(transferer_id, now)
        call = None if anchor is None else self.calls.get(anchor.call_id)
        if call is None:
            return []
        header = call_header(call)
        exten, context = msg.get("Extension") or "", msg.get("Context") or ""
        target = f"{exten}@{context}" if exten and context else exten or None
        self._record_transfer(call, Transfer(TRANSFER_BLIND, ts, transferer_id, transferee_id,
                                             target))
        return self._call_changed(call, header, now)

    def _attended_transfer(self, msg: AmiMessage, ts: float, now: float) -> Events:
        if msg.get("Result") != "Success":
            return []
        first = self._any_leg(msg.get("OrigTransfererUniqueid"), now)
        second = self._any_leg(msg.get("SecondTransfererUniqueid"), now)
        transferee = self._any_leg(msg.get("TransfereeUniqueid"), now)
        target = self._any_leg(msg.get("TransferTargetUniqueid"), now)
        calls = {leg.call_id: self.calls[leg.call_id]
                 for leg in (first, second, transferee, target)
                 if leg is not None and leg.call_id in self.calls}
        if not calls:
            return []
        kept = min(calls.values(), key=lambda c: (c.started_at, c.call_id))
        header = call_header(kept)
        if first is not None and second is not None:
            self._take_role(second, first)
        events: Events = []
        for other in sorted(calls.values(), key=lambda c: c.call_id):
            if other is not kept:
                events += self._absorb(kept, other, now)
        self._record_transfer(kept, Transfer(
            TRANSFER_ATTENDED, ts, msg.get("OrigTransfererUniqueid") or None,
            msg.get("TransfereeUniqueid") or None, msg.get("TransferTargetUniqueid") or None))
        return events + self._call_changed(kept, header, now)

    def _absorb(self, kept: Call, other: Call, now: float) -> Events:
        """Move ``other``'s legs into ``kept``; ``other`` ends (merged) when emptied.

        Its hung-up legs move too, without events (their leg.removed was sent): the
        transferer's consultation line often hangs up before AMI's AttendedTransfer arrives,
        and the merged call must not depend on that race.
        """
        self._note_merged(other.call_id, kept.call_id)
        if kept.queue is None and other.queue is not None:
            kept.queue = other.queue
        for leg in [leg for leg in other.channels.values() if leg.ended_at is not None]:
            if len(kept.channels) >= MAX_CHANNELS_PER_CALL - len(other.live_channels()):
                break  # room for the live ones first; the rest stay in the merged call
            del other.channels[leg.uniqueid]
            leg.call_id = kept.call_id
            kept.channels[leg.uniqueid] = leg
        events: Events = []
        for leg in sorted(other.live_channels(), key=lambda leg: (leg.started_at, leg.uniqueid)):
            events += self._move_leg(leg, kept, now)
        return events

    def _take_role(self, leg: Channel, model: Channel) -> None:
        """The transferer's consultation leg is the same party as its first leg."""
        leg.role, leg.agent_interface = model.role, model.agent_interface
        leg.queue = model.queue
