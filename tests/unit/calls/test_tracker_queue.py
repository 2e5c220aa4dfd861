"""Queues as calls go through them: completed counts, and a caller an agent answered is no
longer listed as waiting (app_queue reports the agent busy before the caller leaves)."""

from __future__ import annotations

from typing import Any

from edgeqa.calls import CallTracker
from edgeqa.store.records import Event
from tests.support.ami_events import (
    AGENT,
    CALLER,
    LINKED,
    T0,
    ami,
    ami_messages,
    answered_queue_call,
    chan,
    feed,
    hangups,
    run_ami,
)
from tests.support.paths import DATA
from tests.support.schemas import assert_valid


def _queue(tracker: CallTracker) -> dict[str, Any]:
    return dict(tracker.snapshot()["queues"][0])


def test_agent_complete_counts_a_completed_call() -> None:
    tracker = CallTracker()
    feed(tracker, *answered_queue_call())
    assert _queue(tracker)["completed"] == 0
    events = feed(tracker, *hangups(), t=T0 + 100)
    assert _queue(tracker)["completed"] == 1
    updates = [e.data["queue"]["completed"] for e in events if e.type == "queue.updated"]
    assert updates and updates[0] == 1, updates
    assert tracker.snapshot()["queues"][0]["members"][0]["calls_taken"] == 1
    # QueueParams (a resync's QueueStatus) is authoritative: it replaces the count.
    feed(tracker, ami("QueueParams", Queue="support", Strategy="ringall", Completed="7",
                      Abandoned="0"), t=T0 + 200)
    assert _queue(tracker)["completed"] == 7
    # AgentComplete of a queue the tracker has not seen yet creates it with one call.
    feed(tracker, ami("AgentComplete", Uniqueid="9.1", Queue="sales", Interface="PJSIP/x",
                      TalkTime="1", Reason="agent"), t=T0 + 300)
    sales = next(q for q in tracker.snapshot()["queues"] if q["name"] == "sales")
    assert sales["completed"] == 1


def test_transcript_call_completes_once() -> None:
    tracker = CallTracker()
    data = DATA
    run_ami(tracker, ami_messages(data))
    assert _queue(tracker)["completed"] == 1


def _queue_updates_after_answer(events: list[Event]) -> list[list[str]]:
    answered = next(i for i, e in enumerate(events) if e.type == "leg.updated"
                    and e.data["channel"]["role"] == "agent" and e.data["channel"]["state"] == "up")
    return [[c["uniqueid"] for c in e.data["queue"]["callers"]]
            for e in events[answered:] if e.type == "queue.updated"]


def test_queue_snapshot_never_lists_a_caller_an_agent_answered() -> None:
    tracker = CallTracker()
    events = feed(tracker, *answered_queue_call())
    types = [e.type for e in events]
    assert "queue.caller_left" in types
    after = _queue_updates_after_answer(events)
    assert after and all(callers == [] for callers in after), after
    # The caller is still reported as leaving, once, when app_queue says so.
    (left,) = [e.data for e in events if e.type == "queue.caller_left"]
    assert (left["caller"]["uniqueid"], left["reason"]) == (CALLER[1], "left")


def test_transcript_queue_snapshot_order() -> None:
    tracker = CallTracker()
    data = DATA
    events = run_ami(tracker, ami_messages(data))
    after = _queue_updates_after_answer(events)
    assert after and all(callers == [] for callers in after), after


def test_agent_hanging_up_before_the_bridge_puts_the_caller_back() -> None:
    """An agent who answers, then hangs up during a member announcement: the caller waits on."""
    tracker = CallTracker()
    feed(tracker, *answered_queue_call()[:8])
    assert _queue(tracker)["callers"] == []
    events = feed(tracker, chan("Hangup", *AGENT, LINKED, Cause="16"), t=T0 + 20)
    assert_valid(events)
    updates = [e.data["queue"] for e in events if e.type == "queue.updated"]
    assert [c["uniqueid"] for c in updates[-1]["callers"]] == [CALLER[1]]
    assert [c["uniqueid"] for c in _queue(tracker)["callers"]] == [CALLER[1]]
