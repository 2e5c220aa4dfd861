"""The demo's view of live metric events: one line each, per-call state, live-vs-offline (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The daemon's metric event types (edgeqa.live.events.METRIC_EVENT_TYPES).
METRIC_TYPES = ("leg.sample", "call.dead_air", "call.talk_over", "call.alert", "call.summary",
                "call.metrics_unavailable")


def _db(value: Any) -> str:
    return "   n/a" if value is None else f"{float(value):6.1f}"


def metric_gist(kind: str, data: Mapping[str, Any]) -> str:
    """The gist of one metric event's payload, for a plain line."""
    call = data.get("call_id")
    if kind == "leg.sample":
        return (f"{call} {data.get('leg'):<8} t={data.get('t_s'):5.1f}s "
                f"rms {_db(data.get('rms_dbov'))} dBov speech {data.get('speech_fraction'):.2f} "
                f"level {_db(data.get('level_dbov_1s'))} clipped {data.get('clipped')}"
                + (" paused" if data.get("paused") else ""))
    if kind == "call.talk_over":
        return (f"{call} {data.get('start_s'):.2f}-{data.get('end_s'):.2f}s "
                f"({data.get('duration_s'):.2f} s) interrupter {data.get('interrupter')}")
    if kind == "call.dead_air":
        end = data.get("end_s")
        span = f"{data.get('start_s'):.2f}-{end:.2f}s" if end is not None \
            else f"since {data.get('start_s'):.2f}s"
        return (f"{call} {data.get('state')} {data.get('severity') or '-'} {span} "
                f"({data.get('duration_s'):.1f} s)")
    if kind == "call.alert":
        return (f"{call} {data.get('type')} {data.get('severity')} leg={data.get('leg')} "
                f"at {data.get('at_s'):.2f}s value {data.get('value')}")
    if kind == "call.summary":
        s = data.get("summary", {})
        return (f"{call} {s.get('duration_s')} s talk ratio {s.get('talk_ratio')} "
                f"talk-over {len(s.get('talk_over', []))} dead air {len(s.get('dead_air', []))}")
    return f"{call} {data.get('reason', '')}"


@dataclass(slots=True)
class CallMetrics:
    """The latest live metrics of one call, as the demo shows them."""

    speech_s: dict[str, float] = field(default_factory=dict)
    level_dbov: dict[str, float | None] = field(default_factory=dict)
    rms_dbov: dict[str, float] = field(default_factory=dict)
    last_talk_over: str = "-"
    last_dead_air: str = "-"
    alerts: int = 0
    note: str = ""

    def apply(self, kind: str, data: Mapping[str, Any]) -> None:
        """Fold one metric event in (stream payloads v2: ``severity``, dead air ``state``)."""
        if kind == "leg.sample":
            leg = str(data.get("leg"))
            self.speech_s[leg] = float(data.get("speech_s") or 0.0)
            self.rms_dbov[leg] = float(data.get("rms_dbov") or -120.0)
            # The last second's level; a silent second has none, and the call's active level
            # only exists after level_min_speech_s of speech: keep the last value seen.
            level = data.get("level_dbov_1s")
            if level is None:
                level = data.get("active_level_dbov")
            if level is not None:
                self.level_dbov[leg] = float(level)
        elif kind == "call.talk_over":
            self.last_talk_over = (f"{data['start_s']:.1f}-{data['end_s']:.1f}s "
                                   f"by {data['interrupter']}")
        elif kind == "call.dead_air":
            severity = data.get("severity") or "-"
            self.last_dead_air = f"{data['state']} {severity} {data['duration_s']:.0f}s"
            # An ongoing dead air is one alert (5/10/30 s crossed); ended/truncated close it.
            if data["state"] == "ongoing":
                self.alerts += 1
        elif kind == "call.alert":
            self.alerts += 1
        elif kind == "call.metrics_unavailable":
            self.note = f"no live metrics: {data.get('reason')}"

    def render(self) -> list[str]:
        """Two lines: talk ratio and level per leg; last talk-over and dead air, alerts."""
        if self.note:
            return [self.note]
        cust, agent = self.speech_s.get("customer", 0.0), self.speech_s.get("agent", 0.0)
        ratio = f"{agent / (agent + cust):.2f}" if agent + cust else " n/a"
        levels = "  ".join(f"{leg} {_db(self.level_dbov.get(leg))} dBov"
                           for leg in ("customer", "agent"))
        return [f"live: talk ratio {ratio}  level {levels}",
                f"live: talk-over {self.last_talk_over}  dead air {self.last_dead_air}  "
                f"alerts {self.alerts}"]


def _max_gap(live: list[Any], offline: list[Any]) -> float | None:
    if len(live) != len(offline):
        return None
    gaps = [max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(live, offline, strict=True)]
    return max(gaps, default=0.0)


def compare_line(fixture: str, live: Mapping[str, Any], offline: Mapping[str, Any]) -> str:
    """Live call.summary against the offline QA of the recordings: every event, its end clipped
    to the shorter of the two (the phones' recordings and the taps stop a few ms apart)."""
    end = min(float(live["duration_s"]), float(offline["duration_s"]))
    parts = []
    for key in ("talk_over", "dead_air"):
        got = [(e["start"], min(e["end"], end)) for e in live[key]]
        want = [(e["start"], min(e["end"], end)) for e in offline[key]]
        gap = _max_gap(got, want)
        verdict = (f"{len(got)} = {len(want)}, boundaries within {gap:.2f} s"
                   if gap is not None else f"{len(got)} live vs {len(want)} offline")
        parts.append(f"{key.replace('_', '-')} {verdict}")
    levels = []
    for leg in ("customer", "agent"):
        a, b = live["legs"][leg]["active_level_dbov"], offline["legs"][leg]["active_level_dbov"]
        levels.append(f"{leg} {a - b:+.1f} dB" if a is not None and b is not None
                      else f"{leg} n/a")
    return f"{fixture:>9}: {'; '.join(parts)}; level live-offline {', '.join(levels)}"
