"""Sans-I/O live call: two LegStreams feeding one CallAnalyzer; time is an argument."""

from __future__ import annotations

from edgeqa.media.jitter import DEFAULT_DEPTH_PACKETS
from edgeqa.media.rtp import RtpPacket
from edgeqa.media.timeline import LegStream
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.config import MetricsConfig
from edgeqa.metrics.events import LEGS, CallSummary, Leg, MetricEvent


class LiveCall:
    """One call's live analysis: packets in with the clock's ``now``, metric events out.

    Call time is ``now - t0_s``; a leg without audio reads as silence (CallAnalyzer.tick).
    """

    def __init__(self, call_id: str, t0_s: float, *, sample_rate: int = 16000,
                 config: MetricsConfig | None = None,
                 depth_packets: int = DEFAULT_DEPTH_PACKETS) -> None:
        self.call_id = call_id
        self.t0_s = t0_s
        self.analyzer = CallAnalyzer(sample_rate, "pcm16", config)
        self.streams: dict[Leg, LegStream] = {
            leg: LegStream(sample_rate, depth_packets=depth_packets) for leg in LEGS}
        self.summary: CallSummary | None = None

    @property
    def finished(self) -> bool:
        """True once finish() ran."""
        return self.summary is not None

    def on_packet(self, leg: Leg, packet: RtpPacket, now_s: float) -> list[MetricEvent]:
        """Feed one RTP packet of ``leg`` that arrived at ``now_s``; return completed events."""
        if self.summary is not None:
            return []
        call_t = now_s - self.t0_s
        out = self.analyzer.tick(call_t)  # the legs are level with the clock: no long gaps
        for audio in self.streams[leg].push(packet, call_t):
            out += self.analyzer.feed(leg, audio.pcm, audio.t_s)
        return out

    def tick(self, now_s: float) -> list[MetricEvent]:
        """Advance to ``now_s``: audio missing by then is silence (fires dead-air alerts)."""
        if self.summary is not None:
            return []
        return self.analyzer.tick(now_s - self.t0_s)

    def finish(self, now_s: float) -> list[MetricEvent]:
        """End the call at ``now_s`` (idempotent); the last event is the CallSummary."""
        if self.summary is not None:
            return []
        out: list[MetricEvent] = []
        for leg in LEGS:
            for audio in self.streams[leg].flush():
                out += self.analyzer.feed(leg, audio.pcm, audio.t_s)
        out += self.analyzer.tick(now_s - self.t0_s)
        out += self.analyzer.finish()
        last = out[-1]
        assert isinstance(last, CallSummary)
        self.summary = last
        return out
