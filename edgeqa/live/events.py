"""Pure mapping of the metrics layer's events to stream events (one call, wall-clock ``at``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgeqa.calls.model import CALL_CONNECTED, ROLE_AGENT, ROLE_CUSTOMER, TrackerEvent
from edgeqa.metrics.events import Alert, CallSummary, DeadAir, LegSample, MetricEvent, TalkOver
from edgeqa.store import Event as StreamEvent

#: The stream event types this module produces, each with a v1 schema in schemas/.
METRIC_EVENT_TYPES = ("leg.sample", "call.dead_air", "call.talk_over", "call.alert",
                      "call.summary", "call.metrics_unavailable")


def metric_event(call_id: str, t0_at: float, ev: MetricEvent) -> StreamEvent | None:
    """Return the stream event for one metric event, or None for internal ones (segments).

    ``t0_at`` is the wall-clock time of the call's time 0; ``at`` is when the event happened.
    """
    if isinstance(ev, LegSample):
        return StreamEvent("leg.sample", t0_at + ev.t_s + 1.0, {
            "call_id": call_id, "leg": ev.leg, "t_s": ev.t_s, "rms_dbov": ev.rms_dbov,
            "speech_fraction": ev.speech_fraction, "level_dbov_1s": ev.level_dbov_1s,
            "clipped": ev.clipped, "paused": ev.pci_paused, "speech_s": ev.speech_s,
            "active_level_dbov": ev.active_level_dbov})
    if isinstance(ev, TalkOver):
        return StreamEvent("call.talk_over", t0_at + ev.end_s, {
            "call_id": call_id, "leg": ev.interrupter, "interrupter": ev.interrupter,
            "start_s": ev.start_s, "end_s": ev.end_s, "duration_s": ev.duration_s})
    if isinstance(ev, DeadAir):
        return StreamEvent("call.dead_air", t0_at + ev.end_s, {
            "call_id": call_id, "leg": None, "level": "ended", "start_s": ev.start_s,
            "end_s": ev.end_s, "duration_s": ev.duration_s})
    if isinstance(ev, Alert) and ev.type == "dead_air":
        # value: seconds of silence when the alert fired.
        return StreamEvent("call.dead_air", t0_at + ev.at_s, {
            "call_id": call_id, "leg": None, "level": ev.severity,
            "start_s": round(ev.at_s - ev.value, 3), "end_s": None,
            "duration_s": ev.value})
    if isinstance(ev, Alert):
        return StreamEvent("call.alert", t0_at + ev.at_s, {
            "call_id": call_id, "leg": ev.leg, "type": ev.type, "level": ev.severity,
            "at_s": ev.at_s, "value": ev.value})
    if isinstance(ev, CallSummary):
        duration = ev.data.get("duration_s")
        end = t0_at + duration if isinstance(duration, int | float) else t0_at
        return StreamEvent("call.summary", end, {
            "call_id": call_id, "leg": None, "started_at": t0_at, "summary": ev.data})
    return None


def metric_events(call_id: str, t0_at: float,
                  events: Sequence[MetricEvent]) -> list[StreamEvent]:
    """Map a batch of metric events, dropping the internal ones."""
    out = (metric_event(call_id, t0_at, ev) for ev in events)
    return [e for e in out if e is not None]


def unavailable(call_id: str, at: float, reason: str) -> StreamEvent:
    """The event saying a call gets no live metrics, and why."""
    return StreamEvent("call.metrics_unavailable", at,
                       {"call_id": call_id, "leg": None, "reason": reason})


def connected_legs(call: Mapping[str, Any]) -> dict[str, str] | None:
    """Return {"customer": uniqueid, "agent": uniqueid} of a connected call's live legs, or None."""
    if call.get("state") != CALL_CONNECTED:
        return None
    legs: dict[str, str] = {}
    for leg in call.get("legs", ()):
        role = leg.get("role")
        if role in (ROLE_CUSTOMER, ROLE_AGENT) and leg.get("ended_at") is None \
                and role not in legs and isinstance(leg.get("uniqueid"), str):
            legs[role] = leg["uniqueid"]
    return legs if len(legs) == 2 else None


def call_of(event: TrackerEvent) -> Mapping[str, Any] | None:
    """The call dict a call.* tracker event carries, or None."""
    call = event.data.get("call") if event.type.startswith("call.") else None
    return call if isinstance(call, Mapping) else None
