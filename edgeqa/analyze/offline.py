"""Offline analysis: a call's recordings run through the same streaming CallAnalyzer.

A recording paused for PCI holds silence where it was paused; ``run_call(paused=...)`` takes
those spans (call time), so that they count as paused, as they did live, not as dead air.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeqa.analyze.wavfile import WavError, read_wav
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.codecs import Codec, decode
from edgeqa.metrics.config import MetricsConfig
from edgeqa.metrics.events import MetricEvent
from edgeqa.metrics.summary import build_summary

#: Audio fed per step, seconds (the analyzers split it at second boundaries themselves).
FEED_BLOCK_S = 10


@dataclass(frozen=True, slots=True)
class CallAudio:
    """Both legs of a call as int16 LE PCM."""

    customer: bytes
    agent: bytes
    sample_rate: int
    codec: Codec


def load_stereo(path: str | Path, customer_channel: int = 0, agent_channel: int = 1) -> CallAudio:
    """Load a stereo WAV (or a mono one, whose one channel is then both legs: refused)."""
    wav = read_wav(path)
    if wav.channels != 2:
        raise WavError(f"need a stereo file (or --customer/--agent), got {wav.channels} channel")
    return CallAudio(decode(wav.codec, wav.channel(customer_channel)),
                     decode(wav.codec, wav.channel(agent_channel)), wav.sample_rate, wav.codec)


def load_pair(customer: str | Path, agent: str | Path) -> CallAudio:
    """Load two mono WAV files of the same rate and codec."""
    c, a = read_wav(customer), read_wav(agent)
    for name, wav in (("customer", c), ("agent", a)):
        if wav.channels != 1:
            raise WavError(f"{name} file must be mono, got {wav.channels} channels")
    if (c.sample_rate, c.codec) != (a.sample_rate, a.codec):
        raise WavError(f"legs differ: customer {c.sample_rate} Hz {c.codec}, "
                       f"agent {a.sample_rate} Hz {a.codec}")
    return CallAudio(decode(c.codec, c.data), decode(a.codec, a.data), c.sample_rate, c.codec)


def pause_spans(paused: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, joined paused spans; ValueError on a span that is empty or starts before 0."""
    spans: list[tuple[float, float]] = []
    for start_s, end_s in sorted((float(s), float(e)) for s, e in paused):
        if not 0.0 <= start_s < end_s:
            raise ValueError(f"paused span {start_s}-{end_s} s: need 0 <= start < end")
        if spans and start_s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end_s))
        else:
            spans.append((start_s, end_s))
    return spans


def run_call(audio: CallAudio, config: MetricsConfig | None = None,
             events: list[MetricEvent] | None = None,
             paused: Sequence[tuple[float, float]] = (),
             holds: Sequence[tuple[float, float]] = ()) -> dict[str, Any]:
    """Stream both legs through a CallAnalyzer block by block; return the summary.

    ``paused``: call-time spans (start_s, end_s) paused for PCI, each applied (pause,
    unpause) at its frame; a span past the audio's end is cut there. ``holds``: call-time
    spans the call was on hold (AMI Hold/Unhold), reported as hold, not dead air.
    """
    call = CallAnalyzer(audio.sample_rate, audio.codec, config)
    for start_s, end_s in pause_spans(holds):  # sorted and joined, like pauses
        call.set_hold(True, start_s)
        call.set_hold(False, end_s)
    bps = 2 * audio.sample_rate
    step = bps * FEED_BLOCK_S
    frame_bytes = call.legs["customer"].frame_bytes
    c_mv, a_mv = memoryview(audio.customer), memoryview(audio.agent)
    end = max(len(c_mv), len(a_mv))
    marks: list[tuple[int, bool]] = []  # (byte offset, paused from there)
    for start_s, end_s in pause_spans(paused):
        marks += [(round(start_s * bps / frame_bytes) * frame_bytes, True),
                  (round(end_s * bps / frame_bytes) * frame_bytes, False)]
    sink = events if events is not None else []
    feed = call.feed
    off = 0
    while off < end:
        while marks and marks[0][0] <= off:
            at, on = marks.pop(0)
            sink.extend(call.pause(at / bps) if on else call.unpause(at / bps))
        upto = min(off + step, end, marks[0][0] if marks else end)
        t_s = off / bps
        if off < len(c_mv):
            sink.extend(feed("customer", c_mv[off:upto], t_s))
        if off < len(a_mv):
            sink.extend(feed("agent", a_mv[off:upto], t_s))
        if events is None:
            sink.clear()
        off = upto
    result = call.finish(end / bps)
    if events is not None:
        events.extend(result.events)
    return build_summary(result)
