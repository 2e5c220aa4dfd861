"""Offline analysis: a call's recordings run through the same streaming CallAnalyzer."""

from __future__ import annotations

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


def run_call(audio: CallAudio, config: MetricsConfig | None = None,
             events: list[MetricEvent] | None = None) -> dict[str, Any]:
    """Stream both legs through a CallAnalyzer block by block; return the summary."""
    call = CallAnalyzer(audio.sample_rate, audio.codec, config)
    step = 2 * audio.sample_rate * FEED_BLOCK_S
    c_mv, a_mv = memoryview(audio.customer), memoryview(audio.agent)
    end = max(len(c_mv), len(a_mv))
    sink = events if events is not None else []
    feed = call.feed
    for off in range(0, end, step):
        t_s = off / (2 * audio.sample_rate)
        if off < len(c_mv):
            sink.extend(feed("customer", c_mv[off:off + step], t_s))
        if off < len(a_mv):
            sink.extend(feed("agent", a_mv[off:off + step], t_s))
        if events is None:
            sink.clear()
    result = call.finish()
    if events is not None:
        events.extend(result.events)
    return build_summary(result)
