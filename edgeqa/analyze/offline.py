"""Offline analysis: a call's recordings run through the same streaming CallAnalyzer.

A recording paused for PCI holds silence where it was paused; ``run_call(paused=...)`` takes
those spans (call time), so that they count as paused, as they did live, not as dead air.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeqa.analyze.wavfile import WavAudio, WavError, read_wav
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.codecs import Codec, decode
from edgeqa.metrics.config import MetricsConfig
from edgeqa.metrics.events import Leg, MetricEvent
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

    def pcm_length(self, leg: Leg) -> int:
        """Bytes of int16 PCM the leg holds."""
        return len(self.customer if leg == "customer" else self.agent)

    def pcm(self, leg: Leg, start: int, stop: int) -> bytes | memoryview:
        """The leg's int16 PCM from byte ``start`` to ``stop`` (no copy)."""
        return memoryview(self.customer if leg == "customer" else self.agent)[start:stop]


@dataclass(frozen=True, slots=True)
class CallFile:
    """Both legs of a call still in their WAV file(s), read and decoded a block at a time,
    so that a long call never sits whole in memory: (file, channel) for each leg."""

    customer: tuple[WavAudio, int]
    agent: tuple[WavAudio, int]
    sample_rate: int
    codec: Codec
    #: The other leg's block of a stereo file, read with this one's: {leg: ((start, stop), pcm)}.
    kept: dict[Leg, tuple[tuple[int, int], bytes]] = field(default_factory=dict, compare=False)

    def pcm_length(self, leg: Leg) -> int:
        """Bytes of int16 PCM the leg holds."""
        return 2 * (self.customer if leg == "customer" else self.agent)[0].frames

    def pcm(self, leg: Leg, start: int, stop: int) -> bytes:
        """The leg's int16 PCM from byte ``start`` to ``stop`` (even), read from the file.

        Both legs in one file: the first leg asked for a block reads both channels at once
        and keeps the other's for its turn (one read of the interleaved block, not two)."""
        wav, index = self.customer if leg == "customer" else self.agent
        other, other_index = self.agent if leg == "customer" else self.customer
        if other is not wav:
            encoded = wav.channel(index, start // 2, stop // 2)
            wav.done_with(start // 2, stop // 2)
            return decode(self.codec, encoded)
        kept = self.kept.pop(leg, None)
        if kept is not None and kept[0] == (start, stop):
            return kept[1]
        channels = wav.channels_block(start // 2, stop // 2)
        wav.done_with(start // 2, stop // 2)
        self.kept.clear()
        self.kept["agent" if leg == "customer" else "customer"] = (
            (start, stop), decode(self.codec, channels[other_index]))
        return decode(self.codec, channels[index])

    def load(self) -> CallAudio:
        """Both legs decoded whole, in memory."""
        return CallAudio(self.pcm("customer", 0, self.pcm_length("customer")),
                         self.pcm("agent", 0, self.pcm_length("agent")),
                         self.sample_rate, self.codec)


def open_stereo(path: str | Path, customer_channel: int = 0, agent_channel: int = 1) -> CallFile:
    """Open a stereo WAV (a mono one, whose one channel would be both legs, is refused)."""
    wav = read_wav(path)
    if wav.channels != 2:
        raise WavError(f"need a stereo file (or --customer/--agent), got {wav.channels} channel")
    for index in (customer_channel, agent_channel):
        if not 0 <= index < wav.channels:
            raise WavError(f"channel {index} does not exist (file has {wav.channels})")
    return CallFile((wav, customer_channel), (wav, agent_channel), wav.sample_rate, wav.codec)


def open_pair(customer: str | Path, agent: str | Path) -> CallFile:
    """Open two mono WAV files of the same rate and codec."""
    c, a = read_wav(customer), read_wav(agent)
    for name, wav in (("customer", c), ("agent", a)):
        if wav.channels != 1:
            raise WavError(f"{name} file must be mono, got {wav.channels} channels")
    if (c.sample_rate, c.codec) != (a.sample_rate, a.codec):
        raise WavError(f"legs differ: customer {c.sample_rate} Hz {c.codec}, "
                       f"agent {a.sample_rate} Hz {a.codec}")
    return CallFile((c, 0), (a, 0), c.sample_rate, c.codec)


def load_stereo(path: str | Path, customer_channel: int = 0, agent_channel: int = 1) -> CallAudio:
    """Load a stereo WAV whole (or a mono one, whose one channel is then both legs: refused)."""
    return open_stereo(path, customer_channel, agent_channel).load()


def load_pair(customer: str | Path, agent: str | Path) -> CallAudio:
    """Load two mono WAV files of the same rate and codec, whole."""
    return open_pair(customer, agent).load()


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


def run_call(audio: CallAudio | CallFile, config: MetricsConfig | None = None,
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
    c_len, a_len = audio.pcm_length("customer"), audio.pcm_length("agent")
    end = max(c_len, a_len)
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
        if off < c_len:
            sink.extend(feed("customer", audio.pcm("customer", off, upto), t_s))
        if off < a_len:
            sink.extend(feed("agent", audio.pcm("agent", off, upto), t_s))
        if events is None:
            sink.clear()
        off = upto
    result = call.finish(end / bps)
    if events is not None:
        events.extend(result.events)
    return build_summary(result)
