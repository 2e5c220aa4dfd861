"""Hang-ups: a channel's final state and cause, and a call that ended stays ended."""

from __future__ import annotations

from edgeqa.calls import CallTracker
from tests.support.ami_events import (
    AGENT,
    CALLER,
    LINKED,
    T0,
    ami,
    answered_queue_call,
    chan,
    feed,
    hangups,
    queue_join,
)


def test_leg_removed_carries_the_final_state_and_cause() -> None:
    tracker = CallTracker()
    feed(tracker, *answered_queue_call())
    events = feed(tracker, *hangups(), t=T0 + 100)
    removed = [e.data["channel"] for e in events if e.type == "leg.removed"]
    assert [leg["channel"] for leg in removed] == [CALLER[0], AGENT[0]]
    for leg in removed:
        assert (leg["state"], leg["hangup_cause"]) == ("hungup", "Normal Clearing")
        assert leg["ended_at"] is not None and leg["answered_at"] is not None
    (ended,) = [e.data["call"] for e in events if e.type == "call.ended"]
    assert {leg["state"] for leg in ended["channels"]} == {"hungup"}


def test_hangup_without_cause_has_a_null_cause() -> None:
    tracker = CallTracker()
    feed(tracker, *answered_queue_call())
    events = feed(tracker, chan("Hangup", *AGENT, LINKED), t=T0 + 50)
    (removed,) = [e.data["channel"] for e in events if e.type == "leg.removed"]
    assert (removed["state"], removed["hangup_cause"]) == ("hungup", None)
    # Cause without Cause-txt: the number is kept.
    events = feed(tracker, chan("Hangup", *CALLER, LINKED, Cause="17"), t=T0 + 60)
    (removed,) = [e.data["channel"] for e in events if e.type == "leg.removed"]
    assert removed["hangup_cause"] == "17"


def test_a_late_channel_of_an_ended_call_does_not_restart_it() -> None:
    """Found by the property test: events reordered so the agent's Newchannel follows the
    caller's Hangup. Linkedids are never reused, so the call stays ended (one start, one end)."""
    tracker = CallTracker()
    events = feed(tracker, chan("Newchannel", *CALLER, LINKED, state="4"), queue_join(),
                  chan("Hangup", *CALLER, LINKED, Cause="16"),
                  chan("Newchannel", *AGENT, LINKED, state="0"),
                  ami("BridgeEnter", BridgeUniqueid="b1", Channel=AGENT[0], Uniqueid=AGENT[1],
                      Linkedid=LINKED))
    types = [e.type for e in events]
    assert types.count("call.started") == 1 and types.count("call.ended") == 1
    assert types[-1] == "call.ended" and tracker.calls == {} and tracker.channels == {}
