"""Hold intervals: AMI Hold/Unhold and ARI ChannelHold/ChannelUnhold, deduplicated and bounded."""

from __future__ import annotations

from typing import Any

from edgeqa.calls import CallTracker
from edgeqa.calls.model import MAX_HOLDS_PER_CHANNEL
from edgeqa.store.records import Event
from tests.support.ami_events import BOB, CALLER, T0, chan, dial, feed
from tests.support.schemas import assert_valid


def _call(tracker: CallTracker) -> None:
    feed(tracker, chan("Newchannel", *CALLER, "100.1", state="4"),
         chan("Newchannel", *BOB, "100.1", state="0"), dial(CALLER, BOB, "100.1"))


def _ari(tracker: CallTracker, kind: str, uniqueid: str, stamp: str,
         now: float) -> list[Event]:
    event: dict[str, Any] = {"type": kind, "timestamp": stamp,
                             "channel": {"id": uniqueid, "name": "x", "state": "Up"}}
    events = tracker.handle_ari(event, now)
    assert_valid(events)
    return events


def test_hold_interval_from_ami_timestamps() -> None:
    tracker = CallTracker()
    _call(tracker)
    events = feed(tracker, chan("Hold", *BOB, "100.1", MusicClass="default",
                                Timestamp="1800000010.5"), t=T0 + 11)
    leg = events[0].data["channel"]
    assert (leg["on_hold"], leg["hold_count"], leg["hold_s"]) == (True, 1, 0.0)
    assert leg["holds"] == [{"start": 1_800_000_010.5, "end": None}]
    events = feed(tracker, chan("Unhold", *BOB, "100.1", Timestamp="1800000014.0"), t=T0 + 15)
    assert [e.type for e in events] == ["leg.updated", "call.updated"]
    leg = events[0].data["channel"]
    assert leg["on_hold"] is False and leg["hold_s"] == 3.5
    assert leg["holds"] == [{"start": 1_800_000_010.5, "end": 1_800_000_014.0}]
    call = events[1].data["call"]
    assert (call["on_hold"], call["hold_s"]) == (False, 3.5)


def test_ari_duplicate_of_an_ami_hold_opens_no_second_interval() -> None:
    tracker = CallTracker()
    _call(tracker)
    feed(tracker, chan("Hold", *BOB, "100.1"), t=T0 + 10)
    assert _ari(tracker, "ChannelHold", BOB[1], "2027-01-15T08:00:10.100+0000", T0 + 10.1) == []
    events = _ari(tracker, "ChannelUnhold", BOB[1], "2027-01-15T08:00:12.000+0000", T0 + 12.2)
    leg = events[0].data["channel"]
    assert leg["hold_count"] == 1 and leg["holds"][0]["end"] == 1_800_000_012.0
    assert feed(tracker, chan("Unhold", *BOB, "100.1"), t=T0 + 12.3) == []
    assert tracker.channels[BOB[1]].hold_s == 1_800_000_012.0 - (T0 + 10)


def test_hangup_while_on_hold_closes_the_interval() -> None:
    tracker = CallTracker()
    _call(tracker)
    feed(tracker, chan("Hold", *BOB, "100.1"), t=T0 + 10)
    events = feed(tracker, chan("Hangup", *BOB, "100.1", Cause="16"), t=T0 + 16)
    (removed,) = [e.data["channel"] for e in events if e.type == "leg.removed"]
    assert removed["on_hold"] is False and removed["hold_s"] == 6.0
    assert removed["holds"] == [{"start": T0 + 10, "end": T0 + 16}]


def test_hold_history_is_bounded_but_totals_stay_exact() -> None:
    tracker = CallTracker()
    _call(tracker)
    rounds = MAX_HOLDS_PER_CHANNEL + 5
    for index in range(rounds):
        base = T0 + 100 + index * 10
        feed(tracker, chan("Hold", *CALLER, "100.1"), chan("Unhold", *CALLER, "100.1"), t=base)
    leg = tracker.channels[CALLER[1]]
    assert len(leg.holds) == MAX_HOLDS_PER_CHANNEL
    assert leg.hold_count == rounds and leg.hold_s == rounds * 1.0
    assert leg.holds[0][0] == T0 + 100 + 5 * 10
