"""The ``edgeqa.call_summary/1`` object (spec/analyze-output.md), built from a finished call.

Per leg, ``active_level_dbov`` is P.56 method B over the leg's gate-passing frames (and the
0.3 s after each: hang-over plus envelope fall), which on digital silence between words equals
the faithful P.56 and under steady line noise keeps the noise out of it; the extra key
``active_level_p56_all_dbov`` is the faithful P.56 over every sample.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgeqa.metrics.config import FRAME_MS
from edgeqa.metrics.events import LEGS

if TYPE_CHECKING:
    from edgeqa.metrics.call import CallAnalyzer

SCHEMA = "edgeqa.call_summary/1"
_FRAME_S = FRAME_MS / 1000.0


def _leg_summary(call: CallAnalyzer, leg: str) -> dict[str, Any]:
    la = call.legs[leg]  # type: ignore[index]
    segs = la.segments
    pairs = [(segs[i] * _FRAME_S, segs[i + 1] * _FRAME_S) for i in range(0, len(segs), 2)]
    durations = [e - s for s, e in pairs]
    level = la.active_level_dbov()
    level_all = la.active_level_p56_all_dbov()
    samples = la.samples
    return {
        "talk_time_s": round(sum(durations), 3),
        "active_level_dbov": None if level is None else round(level, 2),
        "active_level_p56_all_dbov": None if level_all is None else round(level_all, 2),
        "clip_ratio": round(la.clipped / samples, 6) if samples else 0.0,
        "clip_events": la.clip_events,
        "longest_monologue_s": round(max(durations, default=0.0), 3),
        "speech_segments": [[round(s, 3), round(e, 3)] for s, e in pairs],
    }


def build_summary(call: CallAnalyzer, duration_s: float) -> dict[str, Any]:
    """Return the JSON-ready summary of a finished call; keys as in analyze-output.md."""
    legs = {leg: _leg_summary(call, leg) for leg in LEGS}
    talk_c = legs["customer"]["talk_time_s"]
    talk_a = legs["agent"]["talk_time_s"]
    dead_total = sum(ev.duration_s for ev in call.dead_air)
    by: dict[str, dict[str, Any]] = {
        leg: {"count": 0, "total_s": 0.0} for leg in ("customer", "agent", "both")}
    for ev in call.talk_over:
        by[ev.interrupter]["count"] += 1
        by[ev.interrupter]["total_s"] = round(by[ev.interrupter]["total_s"] + ev.duration_s, 3)
    return {
        "schema": SCHEMA,
        "duration_s": round(duration_s, 3),
        "sample_rate": call.sample_rate,
        "codec": call.codec,
        "legs": legs,
        "talk_ratio": round(talk_a / (talk_a + talk_c), 4) if talk_a + talk_c else None,
        "dead_air": [{"start": ev.start_s, "end": ev.end_s, "duration_s": ev.duration_s}
                     for ev in call.dead_air],
        "silence_pct": round(100.0 * dead_total / duration_s, 2) if duration_s else 0.0,
        "talk_over": [{"start": ev.start_s, "end": ev.end_s, "duration_s": ev.duration_s,
                       "interrupter": ev.interrupter} for ev in call.talk_over],
        "talk_over_summary": {
            "count": len(call.talk_over),
            "total_s": round(sum(ev.duration_s for ev in call.talk_over), 3),
            "longest_s": round(max((ev.duration_s for ev in call.talk_over), default=0.0), 3),
            "by_interrupter": by,
        },
        "hold": [{"start": s, "end": e, "duration_s": round(e - s, 3)} for s, e in call.holds],
        "alerts": [{"type": a.type, "severity": a.severity, "at": a.at_s, "leg": a.leg,
                    "value": a.value}
                   for a in sorted(call.alerts, key=lambda a: (a.at_s, a.type, a.leg or ""))],
    }
