"""Sans-I/O live call: two LegStreams feeding one CallAnalyzer, on the call's one clock.

Every metric event of the call leaves through its one sink, mapped by CallEvents. Audio that is
missing because the daemon, a link or a tap was down is a gap (CallAnalyzer.suspend): it counts
in no metric and raises no alert; the first packet after it resumes the analysis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from edgeqa.live.clock import CallClock
from edgeqa.live.events import GAP_DAEMON_RESTART, CallEvents
from edgeqa.media.jitter import DEFAULT_DEPTH_PACKETS
from edgeqa.media.rtp import RtpPacket
from edgeqa.media.timeline import FRAME_S, LegStream
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.config import MetricsConfig
from edgeqa.metrics.events import LEGS, Leg, MetricEvent
from edgeqa.metrics.result import GapReason
from edgeqa.metrics.summary import build_summary, merge_summaries
from edgeqa.store import Event as StreamEvent

log = logging.getLogger(__name__)

StreamSink = Callable[[list[StreamEvent]], None]
#: A call first tapped later than this after its answer was up before this daemon saw it
#: (a restart): its start is a gap, not silence. Below it, the taps' setup time is silence.
LATE_START_S = 2.0


class LiveCall:
    """One call's live analysis: packets and ticks in (loop time), stream events out.

    ``before`` is the summary a previous daemon run checkpointed (call.metrics_suspended);
    the final summary merges it.
    """

    def __init__(self, call_id: str, clock: CallClock, sink: StreamSink, *,
                 first_seen_s: float = 0.0, before: Mapping[str, Any] | None = None,
                 sample_rate: int = 16000, config: MetricsConfig | None = None,
                 depth_packets: int = DEFAULT_DEPTH_PACKETS) -> None:
        self.call_id = call_id
        self.clock = clock
        self.events = CallEvents(call_id, clock)
        self._sink = sink
        self._sample_rate = sample_rate
        self._depth = depth_packets
        self.analyzer = CallAnalyzer(sample_rate, "pcm16", config)
        self.streams = self._new_streams()
        self.before = before
        self.gap: GapReason | None = None
        self.summary: dict[str, Any] | None = None
        if before is not None or first_seen_s > LATE_START_S:
            self._emit(self.analyzer.suspend(0.0, GAP_DAEMON_RESTART))
            self.gap = GAP_DAEMON_RESTART

    @property
    def finished(self) -> bool:
        """True once finish() or checkpoint() ran."""
        return self.summary is not None

    def _new_streams(self) -> dict[Leg, LegStream]:
        return {leg: LegStream(self._sample_rate, depth_packets=self._depth) for leg in LEGS}

    def _emit(self, events: list[MetricEvent]) -> None:
        out = self.events.map(events)
        if out:
            self._sink(out)

    # --- input ------------------------------------------------------------------------------

    def on_packet(self, leg: Leg, packet: RtpPacket, loop_now: float) -> None:
        """Feed one RTP packet of ``leg`` that arrived at loop time ``loop_now``."""
        if self.summary is not None:
            return
        t_s = self.clock.from_loop(loop_now)
        if self.gap is not None:
            start = max(0.0, t_s - len(packet.payload) / 2 / self._sample_rate)
            log.info("call %s: audio again at %.2f s (gap: %s)", self.call_id, start, self.gap)
            self._emit(self.analyzer.resume(round(start / FRAME_S) * FRAME_S))
            self.gap = None
        out = self.analyzer.tick(t_s)  # the legs are level with the clock: no long gaps
        for audio in self.streams[leg].push(packet, t_s):
            out += self.analyzer.feed(leg, audio.pcm, audio.t_s)
        self._emit(out)

    def tick(self, loop_now: float) -> None:
        """Advance to ``loop_now``: audio missing by then is silence, unless in a gap."""
        if self.summary is None and self.gap is None:
            self._emit(self.analyzer.tick(self.clock.from_loop(loop_now)))

    def set_hold(self, on_hold: bool, at: float) -> None:
        """The call went on or off hold at wall time ``at`` (the tracker event's time)."""
        if self.summary is None:
            self.analyzer.set_hold(on_hold, max(0.0, self.clock.from_wall(at)))

    def suspend(self, t_s: float, reason: GapReason) -> None:
        """Audio stops at call time ``t_s`` for ``reason`` (an open silence closes truncated)."""
        if self.summary is not None or self.gap is not None:
            return
        self._drain(t_s)
        self._emit(self.analyzer.suspend(t_s, reason))
        self.streams = self._new_streams()  # the next audio re-anchors at its own time
        self.gap = reason
        log.info("call %s: gap from %.2f s (%s)", self.call_id, t_s, reason)

    def _drain(self, t_s: float) -> None:
        out: list[MetricEvent] = []
        for leg in LEGS:
            for audio in self.streams[leg].flush():
                out += self.analyzer.feed(leg, audio.pcm, audio.t_s)
        if self.gap is None:
            out += self.analyzer.tick(t_s)
        self._emit(out)

    # --- the end ----------------------------------------------------------------------------

    def _result(self, end_s: float) -> dict[str, Any]:
        if self.gap is None:
            self._drain(end_s)
        result = self.analyzer.finish(end_s)
        self._emit(result.events)
        summary = build_summary(result)
        if self.before is not None:
            summary = merge_summaries(self.before, summary)
        self.summary = summary
        return summary

    def finish(self, end_s: float) -> None:
        """The call ended at call time ``end_s``: publish its one call.summary (idempotent)."""
        if self.summary is None:
            self._sink([self.events.summary(self._result(end_s))])

    def checkpoint(self, t_s: float, reason: GapReason) -> None:
        """The daemon stops at ``t_s`` while the call is up: publish what was seen, not final."""
        if self.summary is None:
            self.suspend(t_s, reason)
            self._sink([self.events.suspended(t_s, reason, self._result(t_s))])
