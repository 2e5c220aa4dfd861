"""The stream payloads of live metrics: each fits its schema; dead air carries its state."""

from __future__ import annotations

import pytest

from edgeqa.live.clock import CallClock
from edgeqa.live.events import METRIC_EVENT_TYPES, CallEvents, unavailable
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.events import (
    Alert,
    CallSummary,
    DeadAir,
    LegSample,
    SegmentStarted,
    TalkOver,
)
from edgeqa.metrics.summary import build_summary, summary_payload
from edgeqa.store import schema_name
from tests.support.schemas import errors

T0 = 1_700_000_000.0


def test_every_metric_event_fits_its_current_schema() -> None:
    events = CallEvents("c1", CallClock(T0, 0.0))
    out = events.map([
        SegmentStarted("agent", 1.0),
        LegSample("agent", 3.0, -30.5, 0.4, -26.0, 0, False, 1.2, None),
        LegSample("agent", 4.0, None, 0.0, None, 0, True, 1.2, None, 0.5),
        TalkOver(15.4, 16.2, 0.8, "customer"),
        Alert("dead_air", "info", 7.0, None, 5.0),
        Alert("dead_air", "warn", 12.0, None, 10.0),
        DeadAir(2.0, 14.0, 12.0),
        Alert("clipping", "warn", 4.0, "customer", 0.002),
        Alert("too_quiet", "warn", 5.0, "agent", -48.0),
        DeadAir(20.0, 24.0, 4.0, truncated=True),
        CallSummary({"schema": "edgeqa.call_summary/2"}),
    ])
    call = CallAnalyzer(8000)
    call.suspend(0.0, "daemon_restart")
    call.resume(2.0)
    call.pause(10.0)
    summary = build_summary(call.finish(27.5))
    assert summary["partial"] and summary["paused"] == [{"start": 10.0, "end": 27.5}]
    out += [events.summary(summary), events.suspended(24.0, "daemon_restart", summary),
            unavailable("c1", T0, "ARI refused")]
    assert [e.type for e in out] == [
        "leg.sample", "leg.sample", "call.talk_over", "call.dead_air", "call.dead_air",
        "call.dead_air", "call.alert", "call.alert", "call.dead_air", "call.summary",
        "call.metrics_suspended", "call.metrics_unavailable"]
    for event in out:
        assert event.type in METRIC_EVENT_TYPES
        assert errors(dict(event.data), schema_name(event.type)) == [], event
        assert event.data["call_id"] == "c1" and "leg" in event.data
    paused = out[1].data
    assert (paused["paused"], paused["rms_dbov"], paused["covered_s"]) == (True, None, 0.5)
    assert out[1].at == T0 + 4.5 and out[0].data["paused"] is False
    over = out[2]
    assert (over.at, over.data["interrupter"], over.data["leg"]) == (T0 + 16.2, "customer",
                                                                    "customer")
    dead = [e.data for e in out if e.type == "call.dead_air"]
    assert [(d["state"], d["severity"], d["start_s"], d["end_s"]) for d in dead] == [
        ("ongoing", "info", 2.0, None), ("ongoing", "warn", 2.0, None),
        ("ended", "warn", 2.0, 14.0), ("truncated", None, 20.0, 24.0)]
    assert out[6].data["severity"] == "warn" and out[7].data["type"] == "too_quiet"
    assert out[9].at == T0 + 27.5 and out[9].data["partial"] is True
    assert out[9].data["started_at"] == T0 and out[10].at == T0 + 24.0
    assert out[9].data["source"] == "live"


def test_one_summary_payload_builder_for_every_source() -> None:
    call = CallAnalyzer(8000)
    call.pause(0.0)
    summary = build_summary(call.finish(12.0))
    assert (summary["partial"], summary["paused_s"], summary["covered_s"]) == (False, 12.0, 0.0)
    payload = summary_payload("c2", T0, summary, "recording")
    assert payload == {"call_id": "c2", "leg": None, "started_at": T0, "source": "recording",
                       "partial": False, "summary": summary}
    assert errors(payload, schema_name("call.summary")) == []
    assert errors({**payload, "source": "guess"}, schema_name("call.summary")) != []
    assert errors({**payload, "summary": {**summary, "schema": "edgeqa.call_summary/2"}},
                  schema_name("call.summary")) != []
    with pytest.raises(ValueError, match="source"):
        summary_payload("c2", T0, summary, "guess")  # type: ignore[arg-type]
