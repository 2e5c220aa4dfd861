"""The ``edgeqa.call_summary/4`` object (docs/analyze-output.md), built from a CallResult.

Per leg (spec v1.1), ``active_level_dbov`` is P.56 method B over every sample, as G.191
sv-p56 computes it, and ``speech_level_dbov`` the RMS over the leg's speech segments;
``active_s`` is the time the P.56 level was taken over and ``talk_time_s`` that of the speech
level (so that two parts merge),
and ``codec_max`` the maximum the leg's clipping was judged against.

A summary says what it covers: ``coverage``, ``gaps`` and ``paused`` tile [0, duration_s],
and every figure is of the covered audio only; rates are over ``covered_s``. A pause (for PCI)
is not missing audio: it makes no summary ``partial``. ``merge_summaries`` joins the summaries
of two analyses of one call (before and after a daemon restart); it reads /2 summaries too
(v2 had no pauses), and /3 (whose ``active_level_p56_all_dbov`` was the P.56 level of /4,
and which had no speech level). ``summary_payload`` is the one builder of the
``call.summary`` stream payload, for every source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from edgeqa.metrics.events import LEGS, TalkOver
from edgeqa.metrics.result import CallResult, LegResult

SCHEMA = "edgeqa.call_summary/4"
#: Older summaries merge_summaries still reads (checkpoints a previous version left).
READABLE_SCHEMAS = ("edgeqa.call_summary/2", "edgeqa.call_summary/3", SCHEMA)
SummarySource = Literal["live", "recording"]
#: What a call.summary was computed from: the live taps, or the call's recorded legs.
SUMMARY_SOURCES: tuple[SummarySource, ...] = ("live", "recording")
#: Coverage intervals closer than this (s) are one: a cut without lost audio leaves no gap.
JOIN_TOLERANCE_S = 0.001
_INTERRUPTERS = ("customer", "agent", "both")


def _leg_summary(leg: LegResult) -> dict[str, Any]:
    durations = [e - s for s, e in leg.segments]
    return {
        "talk_time_s": round(sum(durations), 3),
        "active_level_dbov": _round(leg.active_level_dbov, 2),
        "speech_level_dbov": _round(leg.speech_level_dbov, 2),
        "clip_ratio": round(leg.clipped / leg.samples, 6) if leg.samples else 0.0,
        "clip_events": leg.clip_events,
        "longest_monologue_s": round(max(durations, default=0.0), 3),
        "speech_segments": [[s, e] for s, e in leg.segments],
        "active_s": round(leg.active_s, 3),
        "samples": leg.samples,
        "clipped": leg.clipped,
        "codec_max": leg.codec_max,
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _talk_over_summary(talk_over: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    by: dict[str, dict[str, Any]] = {who: {"count": 0, "total_s": 0.0} for who in _INTERRUPTERS}
    for ev in talk_over:
        entry = by[ev["interrupter"]]
        entry["count"] += 1
        entry["total_s"] = round(entry["total_s"] + ev["duration_s"], 3)
    return {
        "count": len(talk_over),
        "total_s": round(sum(ev["duration_s"] for ev in talk_over), 3),
        "longest_s": round(max((ev["duration_s"] for ev in talk_over), default=0.0), 3),
        "by_interrupter": by,
    }


def _rates(legs: Mapping[str, Mapping[str, Any]], dead_air: Sequence[Mapping[str, Any]],
           covered_s: float) -> dict[str, Any]:
    """talk_ratio and silence_pct, both over the covered time only."""
    talk_c = legs["customer"]["talk_time_s"]
    talk_a = legs["agent"]["talk_time_s"]
    dead_total = sum(ev["duration_s"] for ev in dead_air)
    return {
        "talk_ratio": round(talk_a / (talk_a + talk_c), 4) if talk_a + talk_c else None,
        "silence_pct": round(100.0 * dead_total / covered_s, 2) if covered_s else 0.0,
    }


def _talk_over_entry(ev: TalkOver) -> dict[str, Any]:
    return {"start": ev.start_s, "end": ev.end_s, "duration_s": ev.duration_s,
            "interrupter": ev.interrupter}


def build_summary(result: CallResult) -> dict[str, Any]:
    """Return the JSON-ready summary of a finished call; keys as in analyze-output.md."""
    legs: dict[str, dict[str, Any]] = {leg: _leg_summary(result.legs[leg]) for leg in LEGS}
    dead_air = [{"start": ev.start_s, "end": ev.end_s, "duration_s": ev.duration_s,
                 "truncated": ev.truncated} for ev in result.dead_air]
    talk_over = [_talk_over_entry(ev) for ev in result.talk_over]
    alerts = sorted(result.alerts, key=lambda a: (a.at_s, a.type, a.leg or ""))
    return _assemble(
        result.duration_s, result.sample_rate, result.codec,
        [[s, e] for s, e in result.coverage],
        [{"start": g.start_s, "end": g.end_s, "reason": g.reason} for g in result.gaps],
        [{"start": s, "end": e} for s, e in result.pauses], result.paused_at_end,
        legs, dead_air, talk_over,
        [{"start": s, "end": e, "duration_s": round(e - s, 3)} for s, e in result.holds],
        [{"type": a.type, "severity": a.severity, "at": a.at_s, "leg": a.leg, "value": a.value}
         for a in alerts])


def _assemble(duration_s: float, sample_rate: int, codec: str, coverage: list[list[float]],
              gaps: list[dict[str, Any]], paused: list[dict[str, Any]], paused_at_end: bool,
              legs: dict[str, dict[str, Any]],
              dead_air: list[dict[str, Any]], talk_over: list[dict[str, Any]],
              hold: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> dict[str, Any]:
    covered_s = round(sum(e - s for s, e in coverage), 3)
    return {
        "schema": SCHEMA,
        "duration_s": round(duration_s, 3),
        "sample_rate": sample_rate,
        "codec": codec,
        "coverage": coverage,
        "gaps": gaps,
        "paused": paused,
        "covered_s": covered_s,
        "paused_s": round(sum(p["end"] - p["start"] for p in paused), 3),
        "paused_at_end": paused_at_end,
        "partial": bool(gaps),
        "legs": legs,
        **_rates(legs, dead_air, covered_s),
        "dead_air": dead_air,
        "talk_over": talk_over,
        "talk_over_summary": _talk_over_summary(talk_over),
        "hold": hold,
        "alerts": alerts,
    }


# -- merging -----------------------------------------------------------------------------------

def _pooled_level(parts: Sequence[tuple[float | None, float]]) -> tuple[float | None, float]:
    """Join P.56 levels taken over active times: the pooled power over the pooled time."""
    energy = active = 0.0
    for level, active_s in parts:
        if level is not None and active_s > 0:
            energy += active_s * 10.0 ** (level / 10.0)
            active += active_s
    if not active:
        return None, 0.0
    return round(10.0 * math.log10(energy / active), 2), round(active, 3)


def _leg_levels(leg: Mapping[str, Any]) -> tuple[tuple[float | None, float],
                                                  tuple[float | None, float]]:
    """((P.56 level, active s), (speech level, speech s)) of a /4 leg, or of an older one
    (whose P.56 level over every sample was active_level_p56_all_dbov, and no speech level)."""
    if "speech_level_dbov" in leg:
        return ((leg["active_level_dbov"], leg["active_s"]),
                (leg["speech_level_dbov"], leg["talk_time_s"]))
    return (leg["active_level_p56_all_dbov"], leg["active_p56_all_s"]), (None, 0.0)


def _merge_leg(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    (a_p56, a_speech), (b_p56, b_speech) = _leg_levels(a), _leg_levels(b)
    level, active_s = _pooled_level([a_p56, b_p56])
    speech_level, _ = _pooled_level([a_speech, b_speech])
    samples = a["samples"] + b["samples"]
    clipped = a["clipped"] + b["clipped"]
    return {
        "talk_time_s": round(a["talk_time_s"] + b["talk_time_s"], 3),
        "active_level_dbov": level,
        "speech_level_dbov": speech_level,
        "clip_ratio": round(clipped / samples, 6) if samples else 0.0,
        "clip_events": a["clip_events"] + b["clip_events"],
        "longest_monologue_s": max(a["longest_monologue_s"], b["longest_monologue_s"]),
        "speech_segments": sorted([*a["speech_segments"], *b["speech_segments"]]),
        "active_s": active_s,
        "samples": samples,
        "clipped": clipped,
        "codec_max": min(a.get("codec_max", 32767), b.get("codec_max", 32767)),
    }


def _union(intervals: list[list[float]], overlap: bool = False) -> list[list[float]]:
    """Join intervals that touch; ones that overlap too if ``overlap``, else ValueError."""
    out: list[list[float]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1] + JOIN_TOLERANCE_S:
            if not overlap and s < out[-1][1] - JOIN_TOLERANCE_S:
                raise ValueError(f"the summaries both cover {s}..{min(e, out[-1][1])} s")
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def _reason(start: float, end: float, *summaries: Mapping[str, Any]) -> str:
    """The reason of the first input gap that holds [start, end]; a restart if none says.

    ``before`` comes first: its gaps say why audio was missing while it ran, where the
    after part's leading gap only says that it had not started yet.
    """
    mid = (start + end) / 2
    for summary in summaries:
        for gap in summary["gaps"]:
            if gap["start"] <= mid <= gap["end"]:
                return str(gap["reason"])
    return "daemon_restart"


def merge_summaries(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Join two summaries (/4, or /3 or /2) of one call whose coverages do not overlap.

    ``before`` covers the call's start (its analysis stopped at a daemon restart), ``after``
    the rest (its start is a gap): the coverage is the union, the paused time the union of
    both (paused time covered by the other is refused, as overlapping coverage is), the
    gaps what is neither (reason from the input gap there), lists are concatenated, counts
    and talk times summed, levels pooled over their active times (docs/metrics.md gives the
    tolerance against one P.56 over the whole call), clip_ratio taken over the covered
    samples. A segment, silence or talk-over cut by the restart counts as two.
    ``paused_at_end`` is that of the part that reaches further (``after`` on a tie).
    """
    for s in (before, after):
        if s.get("schema") not in READABLE_SCHEMAS:
            raise ValueError(f"can only merge {' or '.join(READABLE_SCHEMAS)} summaries, "
                             f"not {s.get('schema')!r}")
    if (before["sample_rate"], before["codec"]) != (after["sample_rate"], after["codec"]):
        raise ValueError("the summaries differ in sample rate or codec")
    duration_s = max(before["duration_s"], after["duration_s"])
    coverage = _union([list(c) for c in (*before["coverage"], *after["coverage"])])
    paused = _union([[p["start"], p["end"]] for p in (*before.get("paused", ()),
                                                      *after.get("paused", ()))], overlap=True)
    _union([*coverage, *paused])  # ValueError if a part's pause overlaps the other's audio
    gaps: list[dict[str, Any]] = []
    at = 0.0
    for s, e in [*sorted([*coverage, *paused]), [duration_s, duration_s]]:
        if s > at + JOIN_TOLERANCE_S:
            gaps.append({"start": at, "end": s, "reason": _reason(at, s, before, after)})
        at = max(at, e)
    legs: dict[str, dict[str, Any]] = {
        leg: _merge_leg(before["legs"][leg], after["legs"][leg]) for leg in LEGS}

    def joined(key: str) -> list[dict[str, Any]]:
        return sorted([*before[key], *after[key]], key=lambda d: d["start"])

    alerts = sorted([*before["alerts"], *after["alerts"]],
                    key=lambda a: (a["at"], a["type"], a["leg"] or ""))
    last = before if before["duration_s"] > after["duration_s"] else after
    return _assemble(duration_s, before["sample_rate"], before["codec"], coverage, gaps,
                     [{"start": s, "end": e} for s, e in paused],
                     bool(last.get("paused_at_end", False)), legs,
                     joined("dead_air"), joined("talk_over"), joined("hold"), alerts)


def summary_payload(call_id: str, started_at: float, summary: Mapping[str, Any],
                    source: SummarySource) -> dict[str, Any]:
    """The ``call.summary`` stream payload (schemas/call.summary.v4.json) of one call.

    ``started_at`` is the wall time of the summary's call time 0 (the answer); the event's
    own time is the call's end, ``started_at + summary["duration_s"]``. ``source`` says what
    the summary was computed from: the live taps, or the call's recorded legs.
    """
    if source not in SUMMARY_SOURCES:
        raise ValueError(f"summary source {source!r} not one of {SUMMARY_SOURCES}")
    return {"call_id": call_id, "leg": None, "started_at": started_at, "source": source,
            "partial": bool(summary.get("partial")), "summary": dict(summary)}
