"""The demo's live lines show what the daemon's metric events carry: per-leg levels, alerts.

The events are not written by hand: a fixture call runs through the metrics (as ``edgeqa
analyze`` runs it) and the live publisher maps them to stream events, as the daemon does;
each is checked against its schema before the view folds it in.
"""

from __future__ import annotations

from typing import Any

import pytest

from edgeqa.analyze.offline import load_stereo, run_call
from edgeqa.live.clock import CallClock
from edgeqa.live.events import CallEvents
from edgeqa.metrics.events import MetricEvent
from edgeqa.sandbox.demo.live_metrics import CallMetrics
from edgeqa.sandbox.demo.runner import default_calls_dir
from edgeqa.sandbox.demo.view import LiveView, summarize
from edgeqa.store import schema_name
from tests.support.paths import CALLS
from tests.support.schemas import envelope_errors

ANSWERED_AT = 1_700_000_000.0
CALL_ID = "1700000000.1"


def stream_of(fixture: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The envelopes the daemon publishes for one fixture call, and its summary."""
    events: list[MetricEvent] = []
    summary = run_call(load_stereo(str(CALLS / f"{fixture}.wav")), events=events)
    publisher = CallEvents(CALL_ID, CallClock(ANSWERED_AT, 0.0))
    stream = [*publisher.map(events), publisher.summary(summary)]
    envelopes = [{"seq": seq, "type": e.type, "at": e.at, "schema": schema_name(e.type),
                  "data": dict(e.data)} for seq, e in enumerate(stream, 1)]
    assert [(e["seq"], errs) for e in envelopes if (errs := envelope_errors(e))] == []
    return envelopes, summary


def last_level(envelopes: list[dict[str, Any]], leg: str) -> float | None:
    level = None
    for e in envelopes:
        d = e["data"]
        if e["type"] == "leg.sample" and d["leg"] == leg:
            here = d["level_dbov_1s"] if d["level_dbov_1s"] is not None \
                else d["active_level_dbov"]
            level = here if here is not None else level
    return level


@pytest.mark.parametrize("fixture", ["dead_air", "talk_over", "clipping_noise"])
def test_live_lines_show_the_levels_and_alerts_the_events_carry(fixture: str) -> None:
    envelopes, summary = stream_of(fixture)
    view = LiveView()
    view.apply({"seq": 0, "type": "call.updated", "at": ANSWERED_AT, "schema": "x",
                "data": {"call": {"call_id": CALL_ID, "state": "connected", "channels": []}}})
    for e in envelopes:
        view.apply(e)
        summarize(e)  # every event also gets its plain line
    metrics = view.metrics[CALL_ID]
    alerts = [e for e in envelopes if e["type"] == "call.alert"
              or (e["type"] == "call.dead_air" and e["data"]["state"] == "ongoing")]
    # Every alert the metrics raised reached the stream once, and the view counts each.
    assert len(alerts) == len(summary["alerts"]) == metrics.alerts
    first, second = metrics.render()
    for leg in ("customer", "agent"):
        level = last_level(envelopes, leg)
        assert level is not None, f"{fixture}: no level in any {leg} sample"
        assert f"{leg} {level:6.1f} dBov" in first
    assert "n/a" not in first
    assert second.endswith(f"alerts {len(summary['alerts'])}")
    assert view.render().count(f"alerts {len(summary['alerts'])}") == 1


def test_dead_air_fixture_raises_alerts_on_the_view() -> None:
    envelopes, _ = stream_of("dead_air")
    metrics = CallMetrics()
    for e in envelopes:
        if e["type"].startswith("call.") or e["type"] == "leg.sample":
            metrics.apply(e["type"], e["data"])
    dead = [e["data"] for e in envelopes if e["type"] == "call.dead_air"]
    assert any(d["state"] == "ongoing" for d in dead)
    assert metrics.alerts > 0
    last = dead[-1]
    assert metrics.last_dead_air == (f"{last['state']} {last['severity'] or '-'} "
                                     f"{last['duration_s']:.0f}s")


def test_the_demo_finds_its_fixture_calls() -> None:
    assert default_calls_dir() == CALLS
    assert sorted(default_calls_dir().glob("*.wav"))
