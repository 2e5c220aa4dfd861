"""What a finished call leaves: CallResult, the one input of ``summary.build_summary``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from edgeqa.metrics.codecs import Codec
from edgeqa.metrics.events import Alert, DeadAir, Leg, MetricEvent, TalkOver

GapReason = Literal["daemon_restart", "pbx_outage", "tap_failed"]
GAP_REASONS: tuple[GapReason, ...] = ("daemon_restart", "pbx_outage", "tap_failed")


@dataclass(frozen=True, slots=True)
class Gap:
    """Call time [start_s, end_s) without audio, because a link, a tap or the daemon was down."""

    start_s: float
    end_s: float
    reason: GapReason


@dataclass(frozen=True, slots=True)
class LegResult:
    """One leg's figures over the covered audio."""

    #: Closed speech segments, (start_s, end_s).
    segments: tuple[tuple[float, float], ...]
    #: P.56 method B over every sample (as G.191 sv-p56), and the active time it found.
    active_level_dbov: float | None
    active_s: float
    #: The RMS over the speech segments' frames (taken over the talk time).
    speech_level_dbov: float | None
    #: Samples analysed (covered audio only), clipped samples, runs of >= 3 clipped samples.
    samples: int
    clipped: int
    clip_events: int
    #: The maximum the leg's clipping was judged against (32767, or a G.711 law's).
    codec_max: int = 32767


@dataclass(frozen=True, slots=True)
class CallResult:
    """A finished call: its last events and every figure the summary is made of.

    ``coverage``, ``gaps`` and ``pauses`` tile [0, duration_s]; every other time lies in
    the coverage.
    """

    sample_rate: int
    codec: Codec
    #: The call's real duration (its end in call time), gaps included.
    duration_s: float
    legs: Mapping[Leg, LegResult]
    dead_air: tuple[DeadAir, ...]
    talk_over: tuple[TalkOver, ...]
    alerts: tuple[Alert, ...]
    #: Intervals on hold (start_s, end_s), cut at gaps.
    holds: tuple[tuple[float, float], ...]
    gaps: tuple[Gap, ...]
    coverage: tuple[tuple[float, float], ...]
    covered_s: float
    #: The events finish() completed (closing segments, dead air, talk-over), in order.
    events: list[MetricEvent]
    #: Intervals paused for PCI (start_s, end_s): not analysed, and not missing.
    pauses: tuple[tuple[float, float], ...] = ()
    #: The call was still paused where the result ends (a snapshot: the pause goes on).
    paused_at_end: bool = False
