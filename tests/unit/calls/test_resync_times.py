"""A resync tells the truth about time: a call's answer survives a daemon restart, and what
vanished during an outage ended when the link went down, not when the daemon looked again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edgeqa.ami.message import AmiMessage
from edgeqa.calls import CallTracker
from edgeqa.calls.changes import CallConnected, CallEnded, HoldChanged
from tests.support.ami_events import (
    AGENT,
    CALLER,
    LINKED,
    T0,
    ami,
    answered_queue_call,
    chan,
    feed,
    member,
)
from tests.support.schemas import assert_valid

RESYNC_AT = T0 + 100


def listing(caller_age: str = "00:01:40", agent_age: str = "00:01:29") -> list[AmiMessage]:
    """QueueStatus + CoreShowChannels of a queue call answered and bridged before the resync."""
    return [
        member("QueueMember", Status="2", InCall="1"),
        ami("CoreShowChannel", Channel=CALLER[0], Uniqueid=CALLER[1], Linkedid=LINKED,
            ChannelState="6", ChannelStateDesc="Up", CallerIDNum="5551000",
            Application="Queue", ApplicationData="support", BridgeId="b1", Duration=caller_age),
        ami("CoreShowChannel", Channel=AGENT[0], Uniqueid=AGENT[1], Linkedid=LINKED,
            ChannelState="6", ChannelStateDesc="Up", Application="AppQueue",
            ApplicationData="(Outgoing Line)", BridgeId="b1", Duration=agent_age),
    ]


def resync(tracker: CallTracker, msgs: list[AmiMessage], at: float = RESYNC_AT) -> None:
    tracker.begin_resync(at)
    events = tracker.resync_ami(msgs, at)
    events += tracker.end_resync(at)
    assert_valid(events)


def test_restart_keeps_the_stored_start_and_answer() -> None:
    tracker = CallTracker()  # a new daemon: the store still has the call open
    tracker.remember_calls([{"call_id": LINKED, "started_at": T0 - 0.4,
                             "answered_at": T0 + 12.5, "state": "connected"}])
    resync(tracker, listing())
    (call,) = tracker.snapshot()["calls"]
    assert (call["call_id"], call["state"]) == (LINKED, "connected")
    assert (call["started_at"], call["answered_at"]) == (T0 - 0.4, T0 + 12.5)
    assert tracker.drain_changes() == [
        CallConnected(LINKED, RESYNC_AT, T0 + 12.5, customer=CALLER[1], agent=AGENT[1])]


def test_restart_without_a_stored_row_takes_the_answer_from_the_channel_ages() -> None:
    """The agent's channel is 89 s old: the call was answered no earlier than that."""
    tracker = CallTracker()
    resync(tracker, listing())
    (call,) = tracker.snapshot()["calls"]
    assert call["started_at"] == RESYNC_AT - 100
    assert call["answered_at"] == RESYNC_AT - 89
    (change,) = tracker.drain_changes()
    assert isinstance(change, CallConnected) and change.answered_at == RESYNC_AT - 89


def test_reconnect_of_a_known_call_changes_neither_its_answer_nor_its_connection() -> None:
    tracker = CallTracker()
    feed(tracker, *answered_queue_call(),
         ami("BridgeEnter", BridgeUniqueid="b1", Channel=AGENT[0], Uniqueid=AGENT[1],
             Linkedid=LINKED),
         ami("BridgeEnter", BridgeUniqueid="b1", Channel=CALLER[0], Uniqueid=CALLER[1],
             Linkedid=LINKED))
    (connected,) = tracker.drain_changes()
    resync(tracker, listing())
    assert tracker.snapshot()["calls"][0]["answered_at"] == T0 + 10 == connected.answered_at
    assert tracker.drain_changes() == []


def test_restart_on_hold_connects_then_reports_the_hold() -> None:
    tracker = CallTracker()
    msgs = listing()
    resync(tracker, msgs[:2])  # the agent's channel is listed by a later resync
    feed(tracker, chan("Hold", *CALLER, LINKED), t=RESYNC_AT + 1)
    resync(tracker, msgs, at=RESYNC_AT + 2)
    changes = tracker.drain_changes()
    assert [type(c) for c in changes] == [CallConnected, HoldChanged]
    assert changes[1] == HoldChanged(LINKED, RESYNC_AT + 2, True)


def test_outage_sweep_ends_at_the_disconnect() -> None:
    tracker = CallTracker()
    feed(tracker, *answered_queue_call())
    tracker.drain_changes()
    lost_at = T0 + 30
    tracker.begin_resync(RESYNC_AT)
    tracker.resync_ami([], RESYNC_AT)
    events = tracker.end_resync(RESYNC_AT, lost_at=lost_at)
    (ended,) = [e.data["call"] for e in events if e.type == "call.ended"]
    assert ended["ended_at"] == lost_at
    assert {c["ended_at"] for c in ended["channels"]} == {lost_at}
    assert tracker.drain_changes() == [CallEnded(LINKED, lost_at)]


def test_outage_sweep_never_ends_a_channel_before_its_last_event() -> None:
    tracker = CallTracker()
    feed(tracker, *answered_queue_call())
    feed(tracker, chan("NewCallerid", *CALLER, LINKED, CallerIDNum="5551000"), t=T0 + 40)
    tracker.begin_resync(RESYNC_AT)
    events = tracker.end_resync(RESYNC_AT, lost_at=T0 + 30)
    removed = {e.data["channel"]["uniqueid"]: e.data["channel"]["ended_at"]
               for e in events if e.type == "leg.removed"}
    assert removed == {AGENT[1]: T0 + 30, CALLER[1]: T0 + 40}


def test_idle_sweep_hands_over_the_end() -> None:
    tracker = CallTracker()
    feed(tracker, *answered_queue_call())
    tracker.drain_changes()
    tracker.sweep(T0 + 500, max_idle_s=60)
    assert tracker.drain_changes() == [CallEnded(LINKED, T0 + 500)]


def test_ari_creation_times_sharpen_the_channel_ages() -> None:
    """Duration is whole seconds; ARI's creationtime, read in the same resync, is exact."""
    created = datetime.fromtimestamp(RESYNC_AT - 89.75, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    agent = {"id": AGENT[1], "name": AGENT[0], "state": "Up",
             "creationtime": created[:-3] + "+0000"}
    tracker = CallTracker()
    tracker.begin_resync(RESYNC_AT)
    tracker.resync_ami(listing(), RESYNC_AT, ari_channels=[agent])
    tracker.end_resync(RESYNC_AT)
    assert tracker.snapshot()["calls"][0]["answered_at"] == pytest.approx(RESYNC_AT - 89.75)
