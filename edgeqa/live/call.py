"""Sans-I/O live call: its two legs' ingest slots feeding one CallAnalyzer, on the call's clock.

Each leg's RTP goes through a slot of the ingest engine (edgeqa.media.engine: reorder,
placement on the call timeline, decode); at each tick the call takes what each slot placed
since the last one and feeds it to the analyzer in one batch per leg. Every metric event of the
call leaves through its one sink, mapped by CallEvents. Audio that is missing because the
daemon, a link or a tap was down is a gap (CallAnalyzer.suspend): it counts in no metric and
raises no alert; the first audio after it resumes the analysis, at its start. A PCI pause
(pause ... unpause) gates the taps: the engine drops the slots' datagrams while paused
(counted), and ticks give paused per-second samples.

A leg is either attached to a slot of a shared engine (TapRouter.add), or fed packet by packet
with on_packet (a slot of the call's own small engine, analysed at once).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from edgeqa.live.clock import CallClock
from edgeqa.live.events import GAP_DAEMON_RESTART, CallEvents
from edgeqa.media import engine
from edgeqa.media.ingest import Ingest
from edgeqa.media.jitter import DEFAULT_DEPTH_PACKETS
from edgeqa.media.rtp import RtpPacket, build_rtp
from edgeqa.media.timeline import CODEC_RATE, FRAME_S, PlacedAudio, WireCodec
from edgeqa.metrics.call import CallAnalyzer
from edgeqa.metrics.codecs import Codec
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
#: The analyzer's codec (its clip level) for each wire codec: slin is linear PCM.
ANALYZER_CODEC: dict[WireCodec, Codec] = {
    "slin16": "pcm16", "slin": "pcm16", "ulaw": "ulaw", "alaw": "alaw"}
#: The ports of a call's own engine (on_packet), one per leg.
_OWN_PORTS: dict[Leg, int] = {"customer": 1, "agent": 2}


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
                 codec: WireCodec = "slin16", config: MetricsConfig | None = None,
                 depth_packets: int = DEFAULT_DEPTH_PACKETS,
                 on_checkpoint: CheckpointSink | None = None,
                 checkpoint_every_s: float = 5.0) -> None:
        self.call_id = call_id
        self.clock = clock
        self.events = CallEvents(call_id, clock)
        self._sink = sink
        self._on_checkpoint = on_checkpoint
        #: Call time between two checkpoints (LiveMetrics stretches it under load).
        self.checkpoint_every_s = checkpoint_every_s
        self._checkpointed_s = max(0.0, first_seen_s)
        #: Call time where the last audio received (and fed) ends.
        self.heard_to_s = 0.0
        #: The wire codec of both legs (slin16: 16 kHz; slin, ulaw, alaw: 8 kHz).
        self.codec: WireCodec = codec
        self.sample_rate = CODEC_RATE[codec]
        self._depth = depth_packets
        self.analyzer = CallAnalyzer(self.sample_rate, ANALYZER_CODEC[codec], config)
        #: Each leg's ingest slot: (engine, slot).
        self.inputs: dict[Leg, tuple[Ingest, int]] = {}
        self._own: Ingest | None = None
        #: Datagrams of slots no longer attached that were dropped while paused.
        self._paused_before = 0
        self.before = before
        self.gap: GapReason | None = None
        self.paused = False
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

    @property
    def clock_offset_s(self) -> float:
        """Loop time minus call time (CallClock.from_loop is a shift): the engine's offset."""
        return self.clock.loop_minus_wall_s + self.clock.answered_at

    @property
    def packets_paused(self) -> int:
        """Datagrams of the call's legs that arrived while paused, dropped unanalysed."""
        return self._paused_before + sum(
            eng.leg_stats(slot)["paused_dropped"] for eng, slot in self.inputs.values())

    def leg_stats(self, leg: Leg) -> dict[str, int]:
        """The ingest counters of ``leg``'s slot ({} if it has none)."""
        if leg not in self.inputs:
            return {}
        eng, slot = self.inputs[leg]
        return eng.leg_stats(slot)

    def attach(self, leg: Leg, eng: Ingest, slot: int) -> None:
        """``leg``'s audio comes from ``slot`` of ``eng`` from now on (TapRouter.add)."""
        if leg in self.inputs:
            raise ValueError(f"call {self.call_id}: leg {leg} already has an input")
        self.inputs[leg] = (eng, slot)
        eng.set_paused(slot, self.paused)

    def set_codec(self, leg: Leg, codec: WireCodec) -> None:
        """``leg``'s audio comes in ``codec`` (at the call's rate) from now on: the analyzer
        takes its clip level (a captured call is set up as µ-law before its legs are looked
        up; an A-law leg clips at another level)."""
        if CODEC_RATE[codec] != self.sample_rate:
            raise ValueError(f"call {self.call_id}: {codec} is not {self.sample_rate} Hz")
        self.analyzer.set_codec(leg, ANALYZER_CODEC[codec])
        if self.analyzer.codec == ANALYZER_CODEC[codec]:
            self.codec = codec

    def detach(self, leg: Leg) -> tuple[Ingest, int] | None:
        """Stop taking ``leg``'s audio from its slot, after feeding what the slot still holds;
        return the (engine, slot) for the caller to close (None: it had none)."""
        entry = self.inputs.get(leg)
        if entry is None:
            return None
        eng, slot = entry
        self.take((leg,), flush=True)
        self._paused_before += eng.leg_stats(slot)["paused_dropped"]
        del self.inputs[leg]
        return entry

    def _emit(self, events: list[MetricEvent]) -> None:
        if not events:  # most packets complete nothing
            return
        out = self.events.map(events)
        if out:
            self._sink(out)

    # --- input ------------------------------------------------------------------------------

    def on_packet(self, leg: Leg, packet: RtpPacket, loop_now: float) -> None:
        """Feed one RTP packet of ``leg`` that arrived at loop time ``loop_now``, and analyse
        what it releases at once (a leg without a slot gets one of the call's own engine).

        No tick here: the ticks keep a leg whose audio is missing level with the clock.
        """
        if self.summary is not None:
            return
        if leg not in self.inputs:
            if self._own is None:
                self._own = engine.Ingest(len(LEGS), self._depth)
            self.attach(leg, self._own, self._own.open_leg(
                b"", _OWN_PORTS[leg], self.codec, self.clock_offset_s))
        eng = self.inputs[leg][0]
        if eng is not self._own:
            raise ValueError(f"call {self.call_id}: leg {leg} is fed by its engine's slot")
        eng.feed(build_rtp(packet), b"", _OWN_PORTS[leg], loop_now)
        self.take((leg,))

    def take(self, legs: tuple[Leg, ...] = LEGS, *, flush: bool = False) -> None:
        """Feed the analyzer what each leg's slot placed since the last take, one batch per
        leg (``flush``: and what its reorder buffer holds). In a gap, the first audio resumes
        the analysis at its start (paused: at the first datagram dropped, whose audio would
        have started a frame before)."""
        if self.summary is not None:
            return
        out: list[MetricEvent] = []
        try:
            self._take(legs, flush, out)
        finally:  # what was analysed before a failure still goes out
            self._emit(out)

    def _take(self, legs: tuple[Leg, ...], flush: bool, out: list[MetricEvent]) -> None:
        """take(), its events appended to ``out``."""
        placed: dict[Leg, list[PlacedAudio]] = {}
        for leg in legs:
            entry = self.inputs.get(leg)
            if entry is not None:
                got = entry[0].flush(entry[1]) if flush else entry[0].take(entry[1])
                if got:
                    placed[leg] = got
        if self.gap is not None:
            start = min((p[0].t_s for p in placed.values()), default=None)
            if start is None and self.paused:
                start = self._paused_audio_start(legs)
            if start is None:
                return
            start = max(0.0, start)
            log.info("call %s: audio again at %.2f s (gap: %s)", self.call_id, start, self.gap)
            out += self.analyzer.resume(round(start / FRAME_S) * FRAME_S)
            self.gap = None
        for leg, audio in placed.items():
            self._feed(leg, audio, out)

    def _paused_audio_start(self, legs: tuple[Leg, ...]) -> float | None:
        first = [ms for ms in (self.leg_stats(leg).get("paused_first_ms", -1) for leg in legs)
                 if ms >= 0]
        return min(first) / 1000 - self.clock_offset_s - FRAME_S if first else None

    def _feed(self, leg: Leg, placed: list[PlacedAudio], out: list[MetricEvent]) -> None:
        for audio in placed:
            out += self.analyzer.feed(leg, audio.pcm, audio.t_s)
            end = audio.t_s + len(audio.pcm) / 2 / self.sample_rate
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
        out: list[MetricEvent] = []  # take()'s events and the analyzer's tick's, one batch
        try:
            self._take(LEGS, False, out)
            if self.gap is None:
                out += self.analyzer.tick(t_s)
        finally:  # what was analysed before a failure still goes out
            self._emit(out)
        if self._on_checkpoint is not None and \
                t_s - self._checkpointed_s >= self.checkpoint_every_s:
            self._checkpointed_s = t_s
            try:
                summary = self.summary_so_far(t_s)
            except Exception:  # a checkpoint must never stop the call's analysis
                log.exception("call %s: no checkpoint at %.2f s", self.call_id, t_s)
                return
            self._on_checkpoint(summary["duration_s"], summary)

    def alert_due(self) -> float | None:
        """The loop time at which the audio for the open silence's next dead-air alert is in
        (CallAnalyzer.next_dead_air_alert_s), or None: a tick then fires it."""
        if self.summary is not None or self.gap is not None:
            return None
        due_s = self.analyzer.next_dead_air_alert_s()
        return None if due_s is None else due_s + self.clock_offset_s

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
        for eng, slot in self.inputs.values():
            eng.reset(slot)  # the audio after the pause re-anchors at its time
            eng.set_paused(slot, True)
        self.paused = True
        self._checkpointed_s = -math.inf  # a checkpoint at the next tick says it
        log.info("call %s: paused from %.2f s", self.call_id, t_s)

    def unpause(self, t_s: float) -> None:
        """The pause ends at call time ``t_s``: the analysis starts over there (idempotent)."""
        if self.summary is None and self.paused:
            self._emit(self.analyzer.unpause(max(0.0, t_s)))
            self.paused = False
            for eng, slot in self.inputs.values():
                eng.set_paused(slot, False)
            self._checkpointed_s = -math.inf
            log.info("call %s: pause ended at %.2f s (%d packets dropped while paused)",
                     self.call_id, t_s, self.packets_paused)

    def suspend(self, t_s: float, reason: GapReason) -> None:
        """Audio stops at call time ``t_s`` for ``reason`` (an open silence closes truncated)."""
        if self.summary is not None or self.gap is not None:
            return
        self._drain(t_s)
        self._emit(self.analyzer.suspend(t_s, reason))
        for eng, slot in self.inputs.values():
            eng.reset(slot)  # the next audio re-anchors at its own time
            if self.paused:  # its audio from now on (not before) resumes the gap
                eng.set_paused(slot, False)
                eng.set_paused(slot, True)
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
        self.take(flush=True)  # (audio that came in a gap resumes it, as at a tick)
        if self.gap is None and t_s is not None:
            self._emit(self.analyzer.tick(t_s))

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
