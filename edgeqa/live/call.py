"""Sans-I/O live call: two LegStreams feeding one CallAnalyzer, on the call's one clock.

Every metric event of the call leaves through its one sink, mapped by CallEvents. Audio that is
missing because the daemon, a link or a tap was down is a gap (CallAnalyzer.suspend): it counts
in no metric and raises no alert; the first packet after it resumes the analysis. A PCI pause
(pause ... unpause) gates the taps: packets that arrive while paused are dropped unanalysed
(counted), and ticks give paused per-second samples.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edgeqa.live.clock import CallClock
from edgeqa.live.events import GAP_DAEMON_RESTART, CallEvents
from edgeqa.media.jitter import DEFAULT_DEPTH_PACKETS
from edgeqa.media.rtp import PT_SLIN8, PT_SLIN16, RtpPacket
from edgeqa.media.timeline import FRAME_S, LegStream, PlacedAudio, StreamStats
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.config import MetricsConfig
from edgeqa.metrics.events import LEGS, Leg, MetricEvent
from edgeqa.metrics.result import CallResult, GapReason
from edgeqa.metrics.summary import build_summary, merge_summaries
from edgeqa.store import Event as StreamEvent

log = logging.getLogger(__name__)

StreamSink = Callable[[list[StreamEvent]], None]
#: Takes a periodic checkpoint: (call time it accounts up to, the summary so far).
CheckpointSink = Callable[[float, dict[str, Any]], None]
#: A call first tapped later than this after its answer was up before this daemon saw it
#: (a restart): its start is a gap, not silence. Below it, the taps' setup time is silence.
LATE_START_S = 2.0


class LiveCall:
    """One call's live analysis: packets and ticks in (loop time), stream events out.

    ``before`` is the summary a previous daemon run checkpointed (call.metrics_suspended, or
    the store's checkpoints table); the final summary merges it. If that run left the call
    paused (``paused_at_end``), the call is still paused, from where ``before`` ends. With
    ``on_checkpoint``, every ``checkpoint_every_s`` of call time a tick hands it the summary
    so far (see summary_so_far), for the store: what a killed daemon loses is at most that
    long. A pause or its end is checkpointed at the next tick, so that a restarted daemon
    knows whether the call is paused.
    """

    def __init__(self, call_id: str, clock: CallClock, sink: StreamSink, *,
                 first_seen_s: float = 0.0, before: Mapping[str, Any] | None = None,
                 sample_rate: int = 16000, config: MetricsConfig | None = None,
                 depth_packets: int = DEFAULT_DEPTH_PACKETS,
                 on_checkpoint: CheckpointSink | None = None,
                 checkpoint_every_s: float = 5.0,
                 stream_stats: StreamStats | None = None) -> None:
        self.call_id = call_id
        self.clock = clock
        self.events = CallEvents(call_id, clock)
        self._sink = sink
        self._on_checkpoint = on_checkpoint
        self._checkpoint_every_s = checkpoint_every_s
        self._checkpointed_s = max(0.0, first_seen_s)
        #: Call time where the last audio received (and fed) ends.
        self.heard_to_s = 0.0
        self._sample_rate = sample_rate
        self._depth = depth_packets
        #: The counters of every LegStream of the call (new ones too), shareable by calls.
        self.stream_stats = stream_stats if stream_stats is not None else StreamStats()
        self.analyzer = CallAnalyzer(sample_rate, "pcm16", config)
        self.streams = self._new_streams()
        self.before = before
        self.gap: GapReason | None = None
        self.paused = False
        #: Packets that arrived while paused, dropped unanalysed.
        self.packets_paused = 0
        self.summary: dict[str, Any] | None = None
        if before is not None or first_seen_s > LATE_START_S:
            self._emit(self.analyzer.suspend(0.0, GAP_DAEMON_RESTART))
            self.gap = GAP_DAEMON_RESTART
        if before is not None and before.get("paused_at_end") is True:
            duration = before.get("duration_s")
            self.pause(float(duration) if isinstance(duration, int | float) else 0.0)

    @property
    def finished(self) -> bool:
        """True once finish() or checkpoint() ran."""
        return self.summary is not None

    def _new_streams(self) -> dict[Leg, LegStream]:
        wide = self._sample_rate == 16000  # the snoop tap's format: slin16, or slin at 8 kHz
        return {leg: LegStream(self._sample_rate, payload_type=PT_SLIN16 if wide else PT_SLIN8,
                               depth_packets=self._depth, stats=self.stream_stats,
                               codec="slin16" if wide else "slin") for leg in LEGS}

    def _emit(self, events: list[MetricEvent]) -> None:
        if not events:  # most packets complete nothing
            return
        out = self.events.map(events)
        if out:
            self._sink(out)

    # --- input ------------------------------------------------------------------------------

    def on_packet(self, leg: Leg, packet: RtpPacket, loop_now: float) -> None:
        """Feed one RTP packet of ``leg`` that arrived at loop time ``loop_now``.

        No tick here: the ticks (tick(), on the taps' timer) keep a leg whose audio is
        missing level with the clock; a packet only feeds its own audio.
        """
        if self.summary is not None:
            return
        t_s = self.clock.from_loop(loop_now)
        if self.gap is not None:
            start = max(0.0, t_s - len(packet.payload) / 2 / self._sample_rate)
            log.info("call %s: audio again at %.2f s (gap: %s)", self.call_id, start, self.gap)
            self._emit(self.analyzer.resume(round(start / FRAME_S) * FRAME_S))
            self.gap = None
        if self.paused:
            self.packets_paused += 1
            return
        out: list[MetricEvent] = []
        self._feed(leg, self.streams[leg].push(packet, t_s), out)
        self._emit(out)

    def on_audio(self, leg: Leg, placed: Sequence[PlacedAudio]) -> None:
        """Feed audio of ``leg`` already placed on the call timeline (the capture tap's ingest
        engine), as on_packet feeds what its LegStream places."""
        if self.summary is not None or not placed:
            return
        if self.gap is not None:
            start = max(0.0, placed[0].t_s)
            log.info("call %s: audio again at %.2f s (gap: %s)", self.call_id, start, self.gap)
            self._emit(self.analyzer.resume(round(start / FRAME_S) * FRAME_S))
            self.gap = None
        if self.paused:
            self.packets_paused += len(placed)
            return
        out: list[MetricEvent] = []
        self._feed(leg, placed, out)
        self._emit(out)

    @property
    def sample_rate(self) -> int:
        """The rate the call's audio is analysed at (its taps' PCM rate)."""
        return self._sample_rate

    def _feed(self, leg: Leg, placed: Sequence[PlacedAudio], out: list[MetricEvent]) -> None:
        for audio in placed:
            out += self.analyzer.feed(leg, audio.pcm, audio.t_s)
            end = audio.t_s + len(audio.pcm) / 2 / self._sample_rate
            if end > self.heard_to_s:
                self.heard_to_s = end

    def tick(self, loop_now: float) -> None:
        """Advance to ``loop_now``: audio missing by then is silence, unless in a gap (paused:
        the paused samples of the seconds completed by then).

        A checkpoint is due every ``checkpoint_every_s`` (in a gap too: it says so), and
        after a pause or its end.
        """
        if self.summary is not None:
            return
        t_s = self.clock.from_loop(loop_now)
        if self.gap is None:
            self._emit(self.analyzer.tick(t_s))
        if self._on_checkpoint is not None and \
                t_s - self._checkpointed_s >= self._checkpoint_every_s:
            self._checkpointed_s = t_s
            try:
                summary = self.summary_so_far(t_s)
            except Exception:  # a checkpoint must never stop the call's analysis
                log.exception("call %s: no checkpoint at %.2f s", self.call_id, t_s)
                return
            self._on_checkpoint(summary["duration_s"], summary)

    def summary_so_far(self, t_s: float) -> dict[str, Any]:
        """The call's summary as if its audio stopped now (call time ``t_s``), state unchanged.

        The analysis is cut at the end of the audio analysed, so no silence is made up (in a
        gap or a pause: it runs to ``t_s``; a pause still open gives ``paused_at_end``), then
        merged with ``before``. Its ``duration_s`` is the call time it accounts up to.
        """
        stopped = self.gap is not None or self.paused
        return self._summarize(self.analyzer.snapshot(t_s if stopped else None))

    def _summarize(self, result: CallResult) -> dict[str, Any]:
        """The summary of ``result``, merged with the previous run's (``before``), if any."""
        summary = build_summary(result)
        return summary if self.before is None else merge_summaries(self.before, summary)

    def set_hold(self, on_hold: bool, at: float) -> None:
        """The call went on or off hold at wall time ``at`` (the tracker event's time)."""
        if self.summary is None:
            self.analyzer.set_hold(on_hold, max(0.0, self.clock.from_wall(at)))

    def pause(self, t_s: float) -> None:
        """The call is paused for PCI from call time ``t_s`` (idempotent; see CallAnalyzer).

        The audio received for before ``t_s`` is analysed first; from then on the taps'
        packets are dropped until unpause().
        """
        if self.summary is not None or self.paused:
            return
        t_s = max(0.0, t_s)
        self._drain(t_s)
        self._emit(self.analyzer.pause(t_s))
        self.streams = self._new_streams()  # the audio after the pause re-anchors at its time
        self.paused = True
        self._checkpointed_s = -math.inf  # a checkpoint at the next tick says it
        log.info("call %s: paused from %.2f s", self.call_id, t_s)

    def unpause(self, t_s: float) -> None:
        """The pause ends at call time ``t_s``: the analysis starts over there (idempotent)."""
        if self.summary is None and self.paused:
            self._emit(self.analyzer.unpause(max(0.0, t_s)))
            self.paused = False
            self._checkpointed_s = -math.inf
            log.info("call %s: pause ended at %.2f s (%d packets dropped while paused)",
                     self.call_id, t_s, self.packets_paused)

    def suspend(self, t_s: float, reason: GapReason) -> None:
        """Audio stops at call time ``t_s`` for ``reason`` (an open silence closes truncated)."""
        if self.summary is not None or self.gap is not None:
            return
        self._drain(t_s)
        self._emit(self.analyzer.suspend(t_s, reason))
        self.streams = self._new_streams()  # the next audio re-anchors at its own time
        self.gap = reason
        log.info("call %s: gap from %.2f s (%s)", self.call_id, t_s, reason)

    def lose_audio(self, t_s: float, reason: GapReason) -> None:
        """The audio was lost (a link dropped), noticed at call time ``t_s``.

        The gap starts where the last audio received ends, never later than ``t_s``: the time
        it took to notice is not made-up silence. (Audio a tick already took for silence, at
        most MAX_LEG_LAG_S behind the tick, stays analysed: the gap starts after it.)
        """
        if self.summary is not None or self.gap is not None:
            return
        self._drain(None)
        self.suspend(min(t_s, self.heard_to_s), reason)

    def _drain(self, t_s: float | None) -> None:
        out: list[MetricEvent] = []
        for leg in LEGS:
            self._feed(leg, self.streams[leg].flush(), out)
        if self.gap is None and t_s is not None:
            out += self.analyzer.tick(t_s)
        self._emit(out)

    # --- the end ----------------------------------------------------------------------------

    def _result(self, end_s: float) -> dict[str, Any]:
        if self.gap is None:
            self._drain(end_s)
        result = self.analyzer.finish(end_s)
        self._emit(result.events)
        self.summary = self._summarize(result)
        return self.summary

    def finish(self, end_s: float) -> None:
        """The call ended at call time ``end_s``: publish its one call.summary (idempotent)."""
        if self.summary is None:
            self._sink([self.events.summary(self._result(end_s))])

    def checkpoint(self, t_s: float, reason: GapReason) -> None:
        """The daemon stops at ``t_s`` while the call is up: publish what was seen, not final."""
        if self.summary is None:
            self.suspend(t_s, reason)
            self._sink([self.events.suspended(t_s, reason, self._result(t_s))])
