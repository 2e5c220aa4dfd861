"""The demo's live view folds stream envelopes into calls, queues and agents (pure)."""

from __future__ import annotations

from typing import Any

from edgeqa.demo.view import LiveView, summarize


def env(seq: int, type_: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "type": type_, "at": 1_700_000_000.0 + seq, "schema": f"{type_}.v1",
            "data": data}


def call(state: str, **extra: Any) -> dict[str, Any]:
    return {"call_id": "c1", "state": state, "queue": "support", "started_at": 1_700_000_000.0,
            "agent_interface": "PJSIP/agent1", "legs": [], **extra}


def test_view_follows_a_call_through_queue_and_agent() -> None:
    view = LiveView()
    view.apply(env(1, "queue.updated", {"queue": {"name": "support", "callers": []}}))
    view.apply(env(2, "call.started", {"call": call("queued")}))
    view.apply(env(3, "leg.added", {"call_id": "c1", "leg": {
        "uniqueid": "u1", "role": "customer", "channel": "PJSIP/customer1-1", "state": "up"}}))
    view.apply(env(4, "queue.caller_joined", {"queue": "support", "caller": {
        "uniqueid": "u1", "channel": "PJSIP/customer1-1"}}))
    assert len(view.queues["support"]["callers"]) == 1
    view.apply(env(5, "queue.caller_left", {"queue": "support", "reason": "left", "caller": {
        "uniqueid": "u1", "channel": "PJSIP/customer1-1"}}))
    view.apply(env(6, "agent.updated", {"agent": {
        "interface": "PJSIP/agent1", "queues": [{"state": "inuse"}], "on_call": "c1"}}))
    view.apply(env(7, "call.updated", {"call": call("connected", legs=[
        {"uniqueid": "u1", "role": "customer", "channel": "PJSIP/customer1-1", "state": "up"}])}))
    screen = view.render()
    assert "c1" in screen and "connected" in screen and "customer" in screen
    assert "support    waiting 0" in screen
    assert "PJSIP/agent1   inuse  on call c1" in screen
    view.apply(env(8, "call.ended", {"call": call("ended", ended_at=1_700_000_009.5)}))
    assert view.calls == {} and view.ended[-1]["call_id"] == "c1"
    assert "9.5s" in view.render()
    assert view.last_seq == 8 and view.count == 8


def test_summarize_daemon_events_is_one_plain_line() -> None:
    line = summarize(env(3, "resync.completed", {"trigger": "ami", "duration_s": 0.002,
                                                  "outage_s": None}))
    assert line.startswith("#3 ") and "resync.completed" in line and "trigger=ami" in line
    assert "\n" not in line
