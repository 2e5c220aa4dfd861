"""Events the metrics layer emits: frozen, slotted, times in seconds from the call's start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Leg = Literal["customer", "agent"]
LEGS: tuple[Leg, Leg] = ("customer", "agent")


@dataclass(frozen=True, slots=True)
class LegSample:
    """One leg's per-second sample (spec: live cadence), of the audio in [t_s, t_s + covered_s).

    A ``paused`` sample is of call time paused for PCI: no audio was analysed, so rms_dbov and
    the levels are None, speech_fraction and clipped 0, and speech_s is the total so far.
    """

    leg: Leg
    t_s: float
    rms_dbov: float | None
    speech_fraction: float
    #: The speech level of this second: the RMS over its speech frames (None without any).
    level_dbov_1s: float | None
    clipped: int
    paused: bool
    #: Seconds of speech frames since the call started.
    speech_s: float = 0.0
    #: The P.56 level (sv-p56, every sample) of the whole leg so far, once the leg's speech
    #: segments so far reach level_min_speech_s, and only on seconds with speech; else None.
    active_level_dbov: float | None = None
    #: Seconds of audio this sample covers: 1.0, less on a second cut by a gap or a pause
    #: (then t_s is where the audio starts or resumes inside that second); of a paused
    #: sample, the paused part of its second.
    covered_s: float = 1.0
    #: The speech level (RMS over the speech frames) of the whole leg so far, on the same
    #: seconds as active_level_dbov; too_quiet/too_loud are judged on it.
    speech_level_dbov: float | None = None


@dataclass(frozen=True, slots=True)
class SegmentStarted:
    """A speech segment is confirmed (it will be kept); its end is not known yet."""

    leg: Leg
    start_s: float


@dataclass(frozen=True, slots=True)
class SegmentEnded:
    """A speech segment closed."""

    leg: Leg
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class DeadAir:
    """Mutual silence of at least dead_air_min_s, outside hold.

    ``truncated``: the silence had not ended; the audio stopped (a gap began) at ``end_s``.
    """

    start_s: float
    end_s: float
    duration_s: float
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class TalkOver:
    """Both legs inside speech segments for at least talk_over_min_ms."""

    start_s: float
    end_s: float
    duration_s: float
    interrupter: Literal["customer", "agent", "both"]


AlertType = Literal["dead_air", "talk_over", "clipping", "too_quiet", "too_loud"]
Severity = Literal["info", "warn", "alert"]
SEVERITIES: tuple[Severity, ...] = ("info", "warn", "alert")


@dataclass(frozen=True, slots=True)
class Alert:
    """A live alert (leg is None for call-level ones); ``value`` is the figure that crossed."""

    type: AlertType
    severity: Severity
    at_s: float
    leg: Leg | None
    value: float


@dataclass(frozen=True, slots=True)
class CallSummary:
    """A finished call's ``edgeqa.call_summary/4`` (summary.build_summary), JSON-ready."""

    data: dict[str, Any]


MetricEvent = (LegSample | SegmentStarted | SegmentEnded | DeadAir | TalkOver | Alert
               | CallSummary)
