"""Transfers, from synthetic AMI sequences shaped like Asterisk 22's (AMI_Events/BlindTransfer,
AMI_Events/AttendedTransfer): the call stays one call and every leg keeps its role."""

from __future__ import annotations

from typing import Any

from edgeqa.ami.message import AmiMessage
from edgeqa.calls import CallTracker
from edgeqa.calls.model import TRANSFER_KINDS
from edgeqa.store.records import Event
from tests.support.ami_events import (
    AGENT,
    BOB,
    CALLER,
    LINKED,
    T0,
    ami,
    answered_queue_call,
    chan,
    check_consistent,
    check_stream,
    dial,
    feed,
)
from tests.support.schemas import load_schemas

AGENT_CONSULT = ("PJSIP/agent1-00000014", "200.1")  # the agent phone's second line


def _bridge(action: str, bridge: str, leg: tuple[str, str], linkedid: str) -> AmiMessage:
    return ami(action, BridgeUniqueid=bridge, BridgeType="basic", BridgeTechnology="simple_bridge",
               Channel=leg[0], Uniqueid=leg[1], Linkedid=linkedid)


def _party(prefix: str, leg: tuple[str, str], linkedid: str) -> dict[str, str]:
    return {f"{prefix}Channel": leg[0], f"{prefix}ChannelState": "6",
            f"{prefix}ChannelStateDesc": "Up", f"{prefix}Uniqueid": leg[1],
            f"{prefix}Linkedid": linkedid}


def _roles(call: dict[str, Any]) -> dict[str, str]:
    return {leg["channel"]: leg["role"] for leg in call["channels"]}


def _queue_call(tracker: CallTracker) -> list[Event]:
    return feed(tracker, *answered_queue_call(), _bridge("BridgeEnter", "b1", AGENT, LINKED),
                _bridge("BridgeEnter", "b1", CALLER, LINKED))


def test_blind_transfer_keeps_one_call_and_the_roles() -> None:
    tracker = CallTracker()
    events = _queue_call(tracker)
    events += feed(
        tracker,
        ami("BlindTransfer", Result="Success", **_party("Transferer", AGENT, LINKED),
            **_party("Transferee", CALLER, LINKED), BridgeUniqueid="b1", BridgeType="basic",
            BridgeNumChannels="2", IsExternal="Yes", Context="from-internal", Extension="112"),
        _bridge("BridgeLeave", "b1", AGENT, LINKED),
        _bridge("BridgeLeave", "b1", CALLER, LINKED),
        chan("Hangup", *AGENT, LINKED, Cause="16", Cause_txt="Normal Clearing"),
        # The transferee runs 112@from-internal: Dial(PJSIP/bob) inherits its Linkedid.
        chan("Newchannel", *BOB, LINKED, state="0"),
        ami("DialBegin", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid=LINKED,
            DestChannel=BOB[0], DestUniqueid=BOB[1], DestLinkedid=LINKED, DialString="bob"),
        chan("Newstate", *BOB, LINKED),
        _bridge("BridgeEnter", "b2", BOB, LINKED), _bridge("BridgeEnter", "b2", CALLER, LINKED),
        t=T0 + 100)
    (call,) = tracker.snapshot()["calls"]
    assert _roles(call) == {CALLER[0]: "customer", AGENT[0]: "agent", BOB[0]: "callee"}
    assert call["transfers"] == [{"kind": "blind", "at": T0 + 100, "transferer": AGENT[1],
                                  "transferee": CALLER[1], "target": "112@from-internal"}]
    assert call["state"] == "connected" and call["agent_interface"] == "PJSIP/agent1"
    updated = next(e for e in events if e.type == "call.updated" and e.data["call"]["transfers"])
    assert updated.at == T0 + 100
    events += feed(tracker, chan("Hangup", *CALLER, LINKED), chan("Hangup", *BOB, LINKED),
                   t=T0 + 200)
    assert [e.type for e in events].count("call.started") == 1
    (ended,) = [e.data["call"] for e in events if e.type == "call.ended"]
    assert ended["call_id"] == LINKED and len(ended["channels"]) == 3
    check_stream(events)


def test_failed_blind_transfer_changes_nothing() -> None:
    tracker = CallTracker()
    _queue_call(tracker)
    events = feed(tracker, ami("BlindTransfer", Result="Not Permitted",
                               **_party("Transferer", AGENT, LINKED),
                               **_party("Transferee", CALLER, LINKED), Extension="112",
                               Context="from-internal"), t=T0 + 50)
    assert events == [] and tracker.snapshot()["calls"][0]["transfers"] == []


def _consultation(tracker: CallTracker) -> list[Event]:
    """The agent holds the customer and calls bob from a second line: a call of its own."""
    return feed(
        tracker,
        chan("Hold", *AGENT, LINKED, MusicClass="default"),
        chan("Newchannel", *AGENT_CONSULT, AGENT_CONSULT[1], state="4"),
        chan("Newchannel", *BOB, AGENT_CONSULT[1], state="0"),
        ami("DialBegin", Channel=AGENT_CONSULT[0], Uniqueid=AGENT_CONSULT[1],
            Linkedid=AGENT_CONSULT[1], DestChannel=BOB[0], DestUniqueid=BOB[1],
            DestLinkedid=AGENT_CONSULT[1], DialString="bob"),
        chan("Newstate", *BOB, AGENT_CONSULT[1]),
        _bridge("BridgeEnter", "b2", BOB, AGENT_CONSULT[1]),
        _bridge("BridgeEnter", "b2", AGENT_CONSULT, AGENT_CONSULT[1]),
        t=T0 + 50)


def test_attended_transfer_merges_the_consultation_into_the_customer_call() -> None:
    tracker = CallTracker()
    events = _queue_call(tracker) + _consultation(tracker)
    assert len(tracker.snapshot()["calls"]) == 2  # before the transfer: two calls
    transfer = ami("AttendedTransfer", Result="Success",
                   **_party("OrigTransferer", AGENT, LINKED), OrigBridgeUniqueid="b1",
                   **_party("SecondTransferer", AGENT_CONSULT, AGENT_CONSULT[1]),
                   SecondBridgeUniqueid="b2", DestType="Bridge", DestBridgeUniqueid="b1",
                   **_party("Transferee", CALLER, LINKED),
                   **_party("TransferTarget", BOB, AGENT_CONSULT[1]), IsExternal="Yes")
    step = feed(tracker, transfer, t=T0 + 80)
    events += step
    assert_merge_events(step)
    events += feed(
        tracker,
        _bridge("BridgeLeave", "b1", AGENT, LINKED),
        _bridge("BridgeLeave", "b2", AGENT_CONSULT, AGENT_CONSULT[1]),
        _bridge("BridgeLeave", "b2", BOB, AGENT_CONSULT[1]),
        _bridge("BridgeEnter", "b1", BOB, AGENT_CONSULT[1]),
        chan("Hangup", *AGENT, LINKED, Cause="16"),
        chan("Hangup", *AGENT_CONSULT, AGENT_CONSULT[1], Cause="16"),
        # A channel Asterisk still creates with the consultation's Linkedid joins the call.
        chan("Newchannel", "PJSIP/recorder-00000015", "200.9", AGENT_CONSULT[1], state="0"),
        t=T0 + 81)
    check_consistent(tracker)
    (call,) = tracker.snapshot()["calls"]
    assert call["call_id"] == LINKED and call["state"] == "connected"
    assert _roles(call) == {CALLER[0]: "customer", AGENT[0]: "agent", AGENT_CONSULT[0]: "agent",
                            BOB[0]: "callee", "PJSIP/recorder-00000015": "callee"}
    live = {leg["channel"] for leg in call["channels"] if leg["ended_at"] is None}
    assert live == {CALLER[0], BOB[0], "PJSIP/recorder-00000015"}
    assert call["transfers"][0]["kind"] == "attended"
    assert (call["transfers"][0]["transferee"], call["transfers"][0]["target"]) == (
        CALLER[1], BOB[1])
    consult = tracker.channels.get(AGENT_CONSULT[1])
    assert consult is None  # hung up
    events += feed(tracker, chan("Hangup", "PJSIP/recorder-00000015", "200.9", AGENT_CONSULT[1]),
                   chan("Hangup", *BOB, AGENT_CONSULT[1]), chan("Hangup", *CALLER, LINKED),
                   t=T0 + 300)
    ended = [e.data["call"] for e in events if e.type == "call.ended"]
    assert [c["call_id"] for c in ended] == [AGENT_CONSULT[1], LINKED]
    assert {leg["channel"] for leg in ended[-1]["channels"]} == set(_roles(call))
    assert tracker.calls == {} and tracker.channels == {}
    check_stream(events)


def assert_merge_events(step: list[Event]) -> None:
    """The consultation's live legs move (removed there, added here), then it ends, merged."""
    types = [(e.type, e.data.get("call_id") or e.data["call"]["call_id"]) for e in step]
    assert types == [("leg.removed", AGENT_CONSULT[1]), ("leg.added", LINKED),
                     ("leg.removed", AGENT_CONSULT[1]), ("call.ended", AGENT_CONSULT[1]),
                     ("leg.added", LINKED), ("call.updated", LINKED)], types
    moved = [e.data["channel"] for e in step if e.type == "leg.added"]
    assert {leg["channel"]: leg["role"] for leg in moved} == {AGENT_CONSULT[0]: "agent",
                                                              BOB[0]: "callee"}


def test_transferer_gone_before_the_transfer_event_still_counts() -> None:
    """ARI's ChannelDestroyed of the transferer can beat AMI's transfer event (seen live).

    No queue here: bob (a callee, not an agent) consults carol from a second line, which
    starts a call of its own as its caller; after the transfer that line is bob again.
    """
    tracker = CallTracker()
    bob2, carol = ("PJSIP/bob-00000020", "300.1"), ("PJSIP/carol-00000021", "300.2")
    feed(tracker, chan("Newchannel", *CALLER, LINKED, state="4"),
         chan("Newchannel", *BOB, LINKED, state="0"), dial(CALLER, BOB, LINKED),
         chan("Newstate", *BOB, LINKED), _bridge("BridgeEnter", "b1", BOB, LINKED),
         _bridge("BridgeEnter", "b1", CALLER, LINKED))
    feed(tracker, chan("Newchannel", *bob2, bob2[1], state="4"),
         chan("Newchannel", *carol, bob2[1], state="0"), dial(bob2, carol, bob2[1]),
         chan("Newstate", *carol, bob2[1]), _bridge("BridgeEnter", "b2", carol, bob2[1]),
         _bridge("BridgeEnter", "b2", bob2, bob2[1]), t=T0 + 50)
    assert tracker.channels[bob2[1]].role == "customer"  # the consultation's caller, for now
    destroyed = {"type": "ChannelDestroyed", "timestamp": "2027-01-15T08:01:19.000+0000",
                 "cause": 16, "cause_txt": "Normal Clearing",
                 "channel": {"id": BOB[1], "name": BOB[0], "state": "Up"}}
    assert next(e.type for e in tracker.handle_ari(destroyed, T0 + 79)) == "leg.removed"
    feed(tracker, ami("AttendedTransfer", Result="Success",
                      **_party("OrigTransferer", BOB, LINKED),
                      **_party("SecondTransferer", bob2, bob2[1]),
                      DestType="Bridge", DestBridgeUniqueid="b1",
                      **_party("Transferee", CALLER, LINKED),
                      **_party("TransferTarget", carol, bob2[1])), t=T0 + 80)
    (call,) = tracker.snapshot()["calls"]
    assert _roles(call) == {CALLER[0]: "customer", BOB[0]: "callee", bob2[0]: "callee",
                            carol[0]: "callee"}
    assert call["transfers"][0]["transferer"] == BOB[1]
    check_consistent(tracker)


def test_schema_transfer_kinds_match_the_model() -> None:
    for name in ("call.started", "call.updated", "call.ended"):
        call = load_schemas()[name]["$defs"]["call"]["properties"]
        assert call["transfers"]["items"]["properties"]["kind"]["enum"] == list(TRANSFER_KINDS)


def test_consultation_line_hung_up_before_the_transfer_event_still_moves() -> None:
    """Seen live: agent1's second line hangs up before AMI's AttendedTransfer arrives; the
    merged call keeps it anyway, so the result does not depend on that race."""
    tracker = CallTracker()
    events = _queue_call(tracker) + _consultation(tracker)
    events += feed(tracker, chan("Hangup", *AGENT_CONSULT, AGENT_CONSULT[1], Cause="16"),
                   t=T0 + 79)
    step = feed(tracker, ami("AttendedTransfer", Result="Success",
                             **_party("OrigTransferer", AGENT, LINKED),
                             **_party("SecondTransferer", AGENT_CONSULT, AGENT_CONSULT[1]),
                             DestType="Bridge", DestBridgeUniqueid="b1",
                             **_party("Transferee", CALLER, LINKED),
                             **_party("TransferTarget", BOB, AGENT_CONSULT[1])), t=T0 + 80)
    events += step
    # Only the live leg (bob) is moved with events; the consultation then ends, merged.
    assert [(e.type, e.data.get("call_id") or e.data["call"]["call_id"]) for e in step] == [
        ("leg.removed", AGENT_CONSULT[1]), ("call.ended", AGENT_CONSULT[1]),
        ("leg.added", LINKED), ("call.updated", LINKED)]
    check_consistent(tracker)
    (call,) = tracker.snapshot()["calls"]
    assert _roles(call) == {CALLER[0]: "customer", AGENT[0]: "agent", AGENT_CONSULT[0]: "agent",
                            BOB[0]: "callee"}
    consult = next(leg for leg in call["channels"] if leg["channel"] == AGENT_CONSULT[0])
    assert consult["call_id"] == LINKED and consult["state"] == "hungup"
    events += feed(tracker, chan("Hangup", *AGENT, LINKED), chan("Hangup", *BOB, AGENT_CONSULT[1]),
                   chan("Hangup", *CALLER, LINKED), t=T0 + 300)
    ended = [e.data["call"] for e in events if e.type == "call.ended"]
    assert [c["call_id"] for c in ended] == [AGENT_CONSULT[1], LINKED]
    assert {leg["channel"] for leg in ended[-1]["channels"]} == set(_roles(call))
    assert tracker.calls == {} and tracker.channels == {}
    check_stream(events)
