"""The stream payloads of live metrics (v2): each fits its schema; dead air carries its state."""

from __future__ import annotations

from edgeqa.live.clock import CallClock
from edgeqa.live.events import METRIC_EVENT_TYPES, CallEvents, unavailable
from edgeqa.metrics.events import (
    Alert,
    CallSummary,
    DeadAir,
    LegSample,
    SegmentStarted,
    TalkOver,
)
from edgeqa.store import schema_name
from tests.support.schemas import errors

T0 = 1_700_000_000.0


def test_every_metric_event_fits_its_current_schema() -> None:
    events = CallEvents("c1", CallClock(T0, 0.0))
    out = events.map([
        SegmentStarted("agent", 1.0),
        LegSample("agent", 3.0, -30.5, 0.4, -26.0, 0, False, 1.2, None),
        TalkOver(15.4, 16.2, 0.8, "customer"),
        Alert("dead_air", "info", 7.0, None, 5.0),
        Alert("dead_air", "warn", 12.0, None, 10.0),
        DeadAir(2.0, 14.0, 12.0),
        Alert("clipping", "warn", 4.0, "customer", 0.002),
        Alert("too_quiet", "warn", 5.0, "agent", -48.0),
        DeadAir(20.0, 24.0, 4.0, truncated=True),
        CallSummary({"schema": "edgeqa.call_summary/2"}),
    ])
    summary = {"schema": "edgeqa.call_summary/2", "duration_s": 27.5, "partial": True}
    out += [events.summary(summary), events.suspended(24.0, "daemon_restart", summary),
            unavailable("c1", T0, "ARI refused")]
    assert [e.type for e in out] == [
        "leg.sample", "call.talk_over", "call.dead_air", "call.dead_air", "call.dead_air",
        "call.alert", "call.alert", "call.dead_air", "call.summary", "call.metrics_suspended",
        "call.metrics_unavailable"]
    for event in out:
        assert event.type in METRIC_EVENT_TYPES
        assert errors(dict(event.data), schema_name(event.type)) == [], event
        assert event.data["call_id"] == "c1" and "leg" in event.data
    over = out[1]
    assert (over.at, over.data["interrupter"], over.data["leg"]) == (T0 + 16.2, "customer",
                                                                    "customer")
    dead = [e.data for e in out if e.type == "call.dead_air"]
    assert [(d["state"], d["severity"], d["start_s"], d["end_s"]) for d in dead] == [
        ("ongoing", "info", 2.0, None), ("ongoing", "warn", 2.0, None),
        ("ended", "warn", 2.0, 14.0), ("truncated", None, 20.0, 24.0)]
    assert out[5].data["severity"] == "warn" and out[6].data["type"] == "too_quiet"
    assert out[8].at == T0 + 27.5 and out[8].data["partial"] is True
    assert out[8].data["started_at"] == T0 and out[9].at == T0 + 24.0
