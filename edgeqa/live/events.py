"""What the live service publishes: one call's metric events as stream events.

``call.summary`` payloads are built by metrics.summary.summary_payload (source "live" here; the
recording's summaries use the same builder with source "recording").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgeqa.live.clock import CallClock
from edgeqa.metrics.events import (
    SEVERITIES,
    Alert,
    CallSummary,
    DeadAir,
    LegSample,
    MetricEvent,
    Severity,
    TalkOver,
)
from edgeqa.metrics.result import GapReason
from edgeqa.metrics.summary import SummarySource, summary_payload
from edgeqa.store import Event as StreamEvent

#: The stream event types this module produces, each with a schema in schemas/.
METRIC_EVENT_TYPES = ("leg.sample", "call.dead_air", "call.talk_over", "call.alert",
                      "call.summary", "call.metrics_unavailable", "call.metrics_suspended")
#: Why a stretch of a call has no audio (summary ``gaps[].reason``).
GAP_DAEMON_RESTART: GapReason = "daemon_restart"
GAP_PBX_OUTAGE: GapReason = "pbx_outage"
GAP_TAP_FAILED: GapReason = "tap_failed"


class CallEvents:
    """Maps one call's metric events to stream events; ``at`` is the wall time they happened.

    Keeps the one piece of state the mapping needs: the highest dead-air severity reached by
    the silence still open, which its closing ``call.dead_air`` carries.
    """

    def __init__(self, call_id: str, clock: CallClock) -> None:
        self.call_id = call_id
        self.clock = clock
        self._dead_severity: Severity | None = None

    def map(self, events: Sequence[MetricEvent]) -> list[StreamEvent]:
        """Map a batch, dropping the internal events (segments) and the summary."""
        out = (self._one(ev) for ev in events)
        return [e for e in out if e is not None]

    def _one(self, ev: MetricEvent) -> StreamEvent | None:
        call_id, wall = self.call_id, self.clock.wall
        if isinstance(ev, LegSample):
            return StreamEvent("leg.sample", wall(ev.t_s + ev.covered_s), {
                "call_id": call_id, "leg": ev.leg, "t_s": ev.t_s, "rms_dbov": ev.rms_dbov,
                "speech_fraction": ev.speech_fraction, "level_dbov_1s": ev.level_dbov_1s,
                "clipped": ev.clipped, "paused": ev.paused, "speech_s": ev.speech_s,
                "active_level_dbov": ev.active_level_dbov, "covered_s": ev.covered_s,
                "speech_level_dbov": ev.speech_level_dbov})
        if isinstance(ev, TalkOver):
            return StreamEvent("call.talk_over", wall(ev.end_s), {
                "call_id": call_id, "leg": ev.interrupter, "interrupter": ev.interrupter,
                "start_s": ev.start_s, "end_s": ev.end_s, "duration_s": ev.duration_s})
        if isinstance(ev, DeadAir):
            severity, self._dead_severity = self._dead_severity, None
            return StreamEvent("call.dead_air", wall(ev.end_s), {
                "call_id": call_id, "leg": None,
                "state": "truncated" if ev.truncated else "ended", "severity": severity,
                "start_s": ev.start_s, "end_s": ev.end_s, "duration_s": ev.duration_s})
        if isinstance(ev, Alert) and ev.type == "dead_air":
            if self._dead_severity is None or \
                    SEVERITIES.index(ev.severity) > SEVERITIES.index(self._dead_severity):
                self._dead_severity = ev.severity
            # value: seconds of silence when the alert fired.
            return StreamEvent("call.dead_air", wall(ev.at_s), {
                "call_id": call_id, "leg": None, "state": "ongoing", "severity": ev.severity,
                "start_s": round(ev.at_s - ev.value, 3), "end_s": None,
                "duration_s": ev.value})
        if isinstance(ev, Alert):
            return StreamEvent("call.alert", wall(ev.at_s), {
                "call_id": call_id, "leg": ev.leg, "type": ev.type, "severity": ev.severity,
                "at_s": ev.at_s, "value": ev.value})
        if isinstance(ev, CallSummary):
            return None  # published by summary() with its partial flag
        return None

    def summary(self, summary: Mapping[str, Any]) -> StreamEvent:
        """The call's one live ``call.summary``, at the wall time the call ended."""
        duration = summary.get("duration_s")
        end = self.clock.wall(duration if isinstance(duration, int | float) else 0.0)
        return summary_event(self.call_id, end, self.clock.answered_at, summary, "live")

    def suspended(self, t_s: float, reason: GapReason, summary: Mapping[str, Any]) -> StreamEvent:
        """The checkpoint a stopping daemon leaves: what it saw up to ``t_s``, not final."""
        return StreamEvent("call.metrics_suspended", self.clock.wall(t_s), {
            "call_id": self.call_id, "leg": None, "t_s": round(t_s, 3), "reason": reason,
            "started_at": self.clock.answered_at, "summary": dict(summary)})


def summary_event(call_id: str, at: float, started_at: float, summary: Mapping[str, Any],
                  source: SummarySource) -> StreamEvent:
    """A call's one ``call.summary`` at wall time ``at`` (the payload: summary_payload)."""
    return StreamEvent("call.summary", at, summary_payload(call_id, started_at, summary, source))


def unavailable(call_id: str, at: float, reason: str) -> StreamEvent:
    """The event saying a call gets no live metrics, and why."""
    return StreamEvent("call.metrics_unavailable", at,
                       {"call_id": call_id, "leg": None, "reason": reason})
