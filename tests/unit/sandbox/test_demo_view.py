"""The demo's live view folds stream envelopes into calls, queues and agents (pure)."""

from __future__ import annotations

from typing import Any

from edgeqa.sandbox.demo.view import LiveView, summarize


def env(seq: int, type_: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "type": type_, "at": 1_700_000_000.0 + seq, "schema": f"{type_}.v1",
            "data": data}


def call(state: str, **extra: Any) -> dict[str, Any]:
    return {"call_id": "c1", "state": state, "queue": "support", "started_at": 1_700_000_000.0,
            "agent_interface": "PJSIP/agent1", "channels": [], **extra}


def test_view_follows_a_call_through_queue_and_agent() -> None:
    view = LiveView()
    view.apply(env(1, "queue.updated", {"queue": {"name": "support", "callers": []}}))
    view.apply(env(2, "call.started", {"call": call("queued")}))
    view.apply(env(3, "leg.added", {"call_id": "c1", "leg": "customer", "channel": {
        "uniqueid": "u1", "role": "customer", "channel": "PJSIP/customer1-1", "state": "up"}}))
    assert [c["channel"] for c in view.calls["c1"]["channels"]] == ["PJSIP/customer1-1"]
    view.apply(env(4, "queue.caller_joined", {"queue": "support", "caller": {
        "uniqueid": "u1", "channel": "PJSIP/customer1-1"}}))
    assert len(view.queues["support"]["callers"]) == 1
    view.apply(env(5, "queue.caller_left", {"queue": "support", "reason": "left", "caller": {
        "uniqueid": "u1", "channel": "PJSIP/customer1-1"}}))
    view.apply(env(6, "agent.updated", {"agent": {
        "interface": "PJSIP/agent1", "queues": [{"state": "inuse"}], "on_call": "c1"}}))
    view.apply(env(7, "call.updated", {"call": call("connected", channels=[
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


def test_view_shows_live_metrics_per_call_and_plain_lines_for_them() -> None:
    view = LiveView()
    view.apply(env(1, "call.updated", {"call": call("connected")}))
    for seq, (leg, speech_s) in enumerate([("customer", 3.0), ("agent", 1.0)], 2):
        view.apply(env(seq, "leg.sample", {
            "call_id": "c1", "leg": leg, "t_s": 4.0, "rms_dbov": -35.0, "speech_fraction": 0.5,
            "level_dbov_1s": -27.0, "clipped": 0, "paused": False, "speech_s": speech_s,
            "active_level_dbov": -28.0 if leg == "agent" else None}))
    over = env(4, "call.talk_over", {"call_id": "c1", "leg": "customer",
                                     "interrupter": "customer", "start_s": 15.38,
                                     "end_s": 16.56, "duration_s": 1.18})
    view.apply(over)
    screen = view.render()
    # the last second's level first (level_dbov_1s), the active level only without it
    assert "live: talk ratio 0.25" in screen and "agent  -27.0 dBov" in screen
    assert "talk-over 15.4-16.6s by customer" in screen
    assert summarize(over).endswith("call.talk_over         c1 15.38-16.56s (1.18 s) "
                                    "interrupter customer")
    sample = env(5, "leg.sample", {"call_id": "c1", "leg": "agent", "t_s": 5.0,
                                   "rms_dbov": -120.0, "speech_fraction": 0.0,
                                   "level_dbov_1s": None, "clipped": 0, "paused": False,
                                   "speech_s": 1.0, "active_level_dbov": None})
    assert "c1 agent    t=  5.0s rms -120.0 dBov" in summarize(sample)
    view.apply(env(6, "call.metrics_unavailable", {"call_id": "c2", "leg": None,
                                                   "reason": "ARI 404"}))
    assert view.metrics["c2"].render() == ["no live metrics: ARI 404"]


def test_live_summary_is_compared_with_offline() -> None:
    from edgeqa.sandbox.demo.live_metrics import compare_line
    from edgeqa.sandbox.demo.runner import live_summaries

    def summary(start: float, level: float) -> dict[str, Any]:
        return {"duration_s": 27.0, "dead_air": [],
                "talk_over": [{"start": start, "end": start + 1.2, "interrupter": "customer"},
                              {"start": 26.5, "end": 26.9, "interrupter": "agent"}],
                "legs": {"customer": {"active_level_dbov": level},
                         "agent": {"active_level_dbov": None}}}

    line = compare_line("live", summary(15.38, -29.9), summary(15.5, -30.2))
    assert line == ("     live: talk-over 2 = 2, boundaries within 0.12 s; dead-air 0 = 0, "
                    "boundaries within 0.00 s; level live-offline customer +0.3 dB, agent n/a")
    ended = call("ended", call_id="c7", channels=[{"role": "customer",
                                                    "endpoint": "PJSIP/customer2"}])
    events = [env(1, "call.ended", {"call": ended}),
              env(2, "call.summary", {"call_id": "c7", "summary": {"duration_s": 1.0}})]
    assert live_summaries(events) == {"talk_over": {"duration_s": 1.0}}
    # The live taps may see the hang-up before the tracker does: summary first, then the end.
    assert live_summaries(events[::-1]) == {"talk_over": {"duration_s": 1.0}}
