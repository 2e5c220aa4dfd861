"""CallTracker.drain_changes(): the typed connected / hold / ended hand-off to live metrics."""

from __future__ import annotations

from typing import Any

from edgeqa.calls import CallTracker
from edgeqa.calls.changes import CallConnected, CallEnded, HoldChanged
from tests.support.ami_events import (
    AGENT,
    BOB,
    CALLER,
    LINKED,
    T0,
    ami,
    answered_queue_call,
    chan,
    dial,
    feed,
    hangups,
)

AGENT2 = ("PJSIP/agent2-00000013", "100.4")


def _connected_call(tracker: CallTracker) -> None:
    feed(tracker, *answered_queue_call())


def test_queue_call_connects_once_with_its_answer_time_and_channels() -> None:
    tracker = CallTracker()
    msgs = answered_queue_call()
    feed(tracker, *msgs[:-1])
    assert tracker.drain_changes() == []  # agent up, but not connected until AgentConnect
    feed(tracker, msgs[-1], t=T0 + 20)
    assert tracker.drain_changes() == [
        CallConnected(LINKED, T0 + 20, T0 + 20, customer=CALLER[1], agent=AGENT[1])]
    # Bridging afterwards changes nothing: the pair is the same.
    feed(tracker, ami("BridgeEnter", BridgeUniqueid="b1", Channel=AGENT[0], Uniqueid=AGENT[1],
                      Linkedid=LINKED),
         ami("BridgeEnter", BridgeUniqueid="b1", Channel=CALLER[0], Uniqueid=CALLER[1],
             Linkedid=LINKED), t=T0 + 21)
    assert tracker.drain_changes() == []


def test_drain_clears() -> None:
    tracker = CallTracker()
    _connected_call(tracker)
    assert len(tracker.drain_changes()) == 1
    assert tracker.drain_changes() == []


def test_hold_changes_carry_the_event_time_and_repeat_nothing() -> None:
    tracker = CallTracker()
    _connected_call(tracker)
    tracker.drain_changes()
    feed(tracker, chan("Hold", *AGENT, LINKED, Timestamp="1800000030.25"), t=T0 + 31)
    feed(tracker, chan("Hold", *AGENT, LINKED, Timestamp="1800000030.50"), t=T0 + 31)
    ari: dict[str, Any] = {"type": "ChannelUnhold", "timestamp": "2027-01-15T08:00:40.000+0000",
                           "channel": {"id": AGENT[1], "name": AGENT[0], "state": "Up"}}
    tracker.handle_ari(ari, T0 + 41)
    unhold_at = tracker.calls[LINKED].channels[AGENT[1]].holds[-1][1]
    assert unhold_at is not None and unhold_at != T0 + 41
    assert tracker.drain_changes() == [HoldChanged(LINKED, 1_800_000_030.25, True),
                                       HoldChanged(LINKED, unhold_at, False)]


def test_hang_up_ends_the_call_at_the_hangup_time() -> None:
    tracker = CallTracker()
    _connected_call(tracker)
    tracker.drain_changes()
    feed(tracker, *hangups(), t=T0 + 60)
    assert tracker.drain_changes() == [CallEnded(LINKED, T0 + 62)]  # the last hang-up


def test_unanswered_call_ends_without_connecting() -> None:
    tracker = CallTracker()
    feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
         chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"),
         chan("Hold", *CALLER, "100.1"),
         chan("Hangup", *BOB, "100.1"), chan("Hangup", *CALLER, "100.1"))
    assert tracker.drain_changes() == [CallEnded("100.1", T0 + 5)]


def test_a_new_agent_after_a_transfer_connects_the_call_again() -> None:
    """Blind transfer back to the queue: agent1 leaves, agent2 rings, then answers."""
    tracker = CallTracker()
    _connected_call(tracker)
    tracker.drain_changes()
    feed(tracker, chan("Hangup", *AGENT, LINKED),
         chan("Newchannel", *AGENT2, LINKED, state="0"),
         ami("AgentCalled", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid=LINKED,
             DestChannel=AGENT2[0], DestUniqueid=AGENT2[1], Queue="support",
             Interface="PJSIP/agent2", MemberName="Agent Two"), t=T0 + 50)
    assert tracker.drain_changes() == []  # agent2 only rings
    feed(tracker, chan("Newstate", *AGENT2, LINKED), t=T0 + 55)
    (change,) = tracker.drain_changes()
    assert change == CallConnected(LINKED, T0 + 55, T0 + 10, customer=CALLER[1],
                                   agent=AGENT2[1])
