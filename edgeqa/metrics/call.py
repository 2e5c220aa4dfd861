"""CallAnalyzer: joins two LegAnalyzers into dead air, talk-over, alerts and a CallResult.

Gaps: ``suspend(t_s, reason)`` ... ``resume(t_s)`` mark call time in which the audio is missing
(a link, a tap or the daemon was down). A gap is never silence: it counts in no metric and
raises no alert. What is open when it starts closes there (a silence long enough to be dead air
closes ``truncated``), and the timeline starts over when it ends.

Pauses: ``pause(t_s)`` ... ``unpause(t_s)`` mark call time in which the call is paused for PCI
(card numbers): its audio is there but must not be analysed. A pause stops and restarts the
analysis as a gap does, but it is not missing audio: the result lists it apart (``pauses``), it
makes no call partial, and each leg still gives a per-second sample marked paused (with no audio
values) while it lasts. Time both paused and in a gap is paused: no audio was lost that would
have been analysed, so a gap is only its part outside pauses, and paused samples stop in a gap
(nothing listens there).

Echo: whether a leg's frame is speech may depend on the other leg's audio of the same moment (the
echo gate, kernels.echo_gate), so the legs are analysed in lock-step: frames fed to one leg wait,
queued, until the other leg's audio for them is in (and the legs are level, or BATCH_FRAMES are
in), then both are analysed together a block (at most a second) at a time. The wait is
bounded: a leg more than MAX_LEG_AHEAD_S ahead of the other takes the other as silent up to
there, as tick() takes a live leg lagging the clock.
"""

from __future__ import annotations

import copy
import dataclasses
from array import array
from collections import deque

from edgeqa.metrics.codecs import Codec
from edgeqa.metrics.config import FRAME_MS, MetricsConfig
from edgeqa.metrics.events import (
    LEGS,
    Alert,
    AlertType,
    DeadAir,
    Leg,
    LegSample,
    MetricEvent,
    SegmentEnded,
    SegmentStarted,
    Severity,
    TalkOver,
)
from edgeqa.metrics.leg import LegAnalyzer, LegEvent
from edgeqa.metrics.reference import new_echo_state
from edgeqa.metrics.result import GAP_REASONS, CallResult, Gap, GapReason, LegResult

_FRAME_S = FRAME_MS / 1000.0
#: Hold marks not yet reached by the timeline; a switch sends a handful per call.
MAX_PENDING_HOLD_MARKS = 1024
#: tick(): a leg whose audio lags the clock by more than this is silent (no RTP, no speech).
MAX_LEG_LAG_S = 0.2
#: Gaps one call may have; a link that flaps more often than this is refused.
MAX_GAPS_PER_CALL = 10_000
#: Pauses one call may have; more are refused.
MAX_PAUSES_PER_CALL = 10_000
#: Frames per per-second sample.
_FRAMES_PER_S = 1000 // FRAME_MS
#: A leg's frames wait at most this long (call time) for the other leg's audio (module docstring).
MAX_LEG_AHEAD_S = 30
_LEG_AHEAD_FRAMES = MAX_LEG_AHEAD_S * _FRAMES_PER_S
#: Frames both legs have wait to be analysed together until the legs are level, or until this
#: many are in (200 ms): a tap's batch (a tick's frames of one leg, then the other's) is one
#: block, not a block per frame.
BATCH_FRAMES = 10


def _t(frame: int) -> float:
    """Frame index to seconds; the integer ms over 1000 is round(frame * _FRAME_S, 3) exactly."""
    return frame * FRAME_MS / 1000


class CallAnalyzer:
    """Streams a call: feed each leg's frames with their start time; read call events back.

    The timeline advances to the earliest frame whose state both legs have settled (at most
    segment_bridge_ms behind the newest frame), so every event is final when emitted.
    """

    def __init__(self, sample_rate: int, codec: Codec = "pcm16",
                 config: MetricsConfig | None = None) -> None:
        cfg = config or MetricsConfig()
        self.config = cfg
        self.sample_rate = sample_rate
        self.codec: Codec = codec
        self.legs: dict[Leg, LegAnalyzer] = {
            leg: LegAnalyzer(leg, sample_rate, codec, cfg) for leg in LEGS}
        self._leg_c, self._leg_a = self.legs["customer"], self.legs["agent"]
        window = cfg.echo_window_ms // FRAME_MS
        margin = 0 if cfg.echo_margin_db == 0 else round(cfg.echo_margin_db * 100)
        #: Per leg, the echo gate's state: the *other* leg's recent levels.
        self._echo: dict[Leg, array[int]] = {
            leg: new_echo_state(window, margin) for leg in LEGS}
        self._echo_c, self._echo_a = self._echo["customer"], self._echo["agent"]
        for la in self.legs.values():
            la.pair()
        self._marks: dict[Leg, deque[tuple[int, bool]]] = {leg: deque() for leg in LEGS}
        self._hold_marks: deque[tuple[int, bool]] = deque()
        self._cursor = 0
        self._in_speech: dict[Leg, bool] = {leg: False for leg in LEGS}
        self._seg_start: dict[Leg, int] = {leg: 0 for leg in LEGS}
        self._hold = False
        self._hold_want = False
        self._hold_start = 0
        self._quiet_start: int | None = 0
        self._dead_fired = 0
        self._over_start: int | None = None
        self._over_by: str = "both"
        self._over_alerted = False
        self._over_total = 0
        self._over_total_alerted = False
        self._clip_windows: dict[Leg, deque[tuple[int, int]]] = {
            leg: deque(maxlen=cfg.clip_window_s) for leg in LEGS}
        self._clip_sums: dict[Leg, list[int]] = {leg: [0, 0] for leg in LEGS}
        self._clip_alerting: dict[Leg, bool] = {leg: False for leg in LEGS}
        self._level_alerted: dict[Leg, bool] = {leg: False for leg in LEGS}
        self.dead_air: list[DeadAir] = []
        self.talk_over: list[TalkOver] = []
        self.alerts: list[Alert] = []
        self.holds: list[tuple[float, float]] = []
        self.gaps: list[Gap] = []
        self._gap: GapReason | None = None  # the open gap's reason
        self._gap_start: int | None = None  # where the open gap's listed part began (not paused)
        self.pauses: list[tuple[float, float]] = []
        self._pause_start: int | None = None
        self._sample_at = 0  # paused per-second samples are given up to this frame
        #: Frames fed while paused, dropped unanalysed.
        self.frames_paused: dict[Leg, int] = {leg: 0 for leg in LEGS}
        self._floor = 0  # the frame of the last suspend, resume, pause or unpause
        self.finished = False

    def set_law(self, leg: Leg, law: Codec) -> None:
        """``leg``'s audio is G.711 ``law`` (its channel's codec) though it arrives as linear
        PCM, resampled so that its samples no longer show it (a snoop tap's slin16): its clips
        are judged against the law's maximum. The call's codec (its audio's format) stays."""
        if law not in ("ulaw", "alaw"):
            raise ValueError(f"{law!r} is not a G.711 law")
        self.legs[leg].set_codec(law)

    def set_codec(self, leg: Leg, codec: Codec) -> None:
        """``leg``'s audio comes in ``codec`` from now on (its clip level; the rate stays);
        the call's codec is the legs' once they agree."""
        self.legs[leg].set_codec(codec)
        codecs = {la.codec for la in self.legs.values()}
        if len(codecs) == 1:
            self.codec = codecs.pop()

    def next_dead_air_alert_s(self) -> float | None:
        """The call time up to which both legs' audio must be analysed for the open silence's
        next dead-air alert to fire (its mark plus the segment pad the legs' horizon lags
        by); None: no silence open, every level fired, or in a gap or a pause."""
        if self._quiet_start is None or self._gap is not None or self._pause_start is not None:
            return None
        levels = self.config.dead_air_alerts_s
        if self._dead_fired >= len(levels):
            return None
        at = self._quiet_start + round(levels[self._dead_fired][0] * 1000 / FRAME_MS)
        return _t(at) + self.config.speech_pad_ms / 1000

    @property
    def suspended(self) -> bool:
        """True between suspend() and resume()."""
        return self._gap is not None

    @property
    def paused(self) -> bool:
        """True between pause() and unpause()."""
        return self._pause_start is not None

    # -- input -----------------------------------------------------------------------------
    def feed(self, leg: Leg, pcm: bytes | bytearray | memoryview, t_s: float) -> list[MetricEvent]:
        """Analyse ``leg``'s int16 LE PCM starting at ``t_s``; return the events it completed."""
        if self.finished:
            raise RuntimeError("call already finished")
        out: list[MetricEvent] = []
        if self._pause_start is not None:  # dropped unanalysed, counted
            self.frames_paused[leg] += len(pcm) // self.legs[leg].frame_bytes
            return out
        if self._gap is not None:
            self.legs[leg].feed(pcm, t_s)  # dropped and counted: the audio is in a gap
            return out
        c, a = self._leg_c, self._leg_a
        for ev in c.feed(pcm, t_s) if leg == "customer" else a.feed(pcm, t_s):
            self._leg_event(ev, out)  # (a paired leg's feed only queues: none, or its fill's)
        f_c, f_a = c.frames, a.frames
        both = (f_c if f_c < f_a else f_a) - c.done  # frames both legs have, not analysed
        if (both > 0 and (f_c == f_a or both >= BATCH_FRAMES)) or not \
                -_LEG_AHEAD_FRAMES <= f_c - f_a <= _LEG_AHEAD_FRAMES:
            self._analyse(out)
        elif not out and not self._hold_marks:
            return out  # nothing analysed: the horizons are where the last advance left them
        h_c, h_a = c.horizon(), a.horizon()
        target = h_c if h_c < h_a else h_a
        if target > self._cursor or self._hold_marks:
            self._advance(target, out)
        return out

    def _analyse(self, out: list[MetricEvent], *, final: bool = False) -> None:
        """Analyse the frames both legs have (module docstring: echo); ``final``: and the rest
        of the leg that has more, against digital silence (the other leg's audio ended)."""
        c, a = self._leg_c, self._leg_a
        for lead, lag in ((c, a), (a, c)):
            if lead.frames - lag.frames > _LEG_AHEAD_FRAMES:
                for ev in lag.fill_to(lead.frames - _LEG_AHEAD_FRAMES):
                    self._leg_event(ev, out)
        while c.frames > c.done and a.frames > a.done:
            assert c.done == a.done, "paired legs out of step"
            k = _FRAMES_PER_S - c.done % _FRAMES_PER_S
            k = min(k, c.frames - c.done, a.frames - a.done)
            self._pair_block(k, out)
        if final:
            for leg in LEGS:
                la = self.legs[leg]
                while la.queued:
                    k = min(la.queued, _FRAMES_PER_S - la.done % _FRAMES_PER_S)
                    pcm, n_cand = la.gate_next(k)
                    events: list[LegEvent] = []
                    la.speech_block(pcm, k, n_cand, events, self._echo[leg])
                    for ev in events:
                        self._leg_event(ev, out)

    def _pair_block(self, n: int, out: list[MetricEvent]) -> None:
        """Both legs' next ``n`` queued frames: gates, the echo gate across, then speech."""
        c, a = self._leg_c, self._leg_a
        pc, cand_c = c.gate_next(n)
        pa, cand_a = a.gate_next(n)
        events: list[LegEvent] = []
        c.speech_block(pc, n, cand_c, events, self._echo_c, a)  # (the customer's echo gate
        a.speech_block(pa, n, cand_a, events, self._echo_a, c)  # reads the agent's levels only)
        for ev in events:
            self._leg_event(ev, out)

    def tick(self, now_s: float) -> list[MetricEvent]:
        """Advance a live call to ``now_s``: audio missing by now_s - MAX_LEG_LAG_S is silence.

        While suspended it does nothing: missing audio in a gap is not silence. While paused,
        it gives each leg's paused samples of the seconds completed by then.
        """
        out: list[MetricEvent] = []
        if self._gap is not None:
            return out
        upto = round((now_s - MAX_LEG_LAG_S) / _FRAME_S)
        if self._pause_start is not None:
            self._paused_samples(upto, out, partial=False)
            return out
        for leg in LEGS:
            la = self.legs[leg]
            if la.frames < upto:
                out += self.feed(leg, bytes(la.frame_bytes * (upto - la.frames)),
                                 la.frames * _FRAME_S)
        return out

    def set_hold(self, on_hold: bool, t_s: float) -> None:
        """Mark the call on or off hold from ``t_s`` (AMI Hold/Unhold); hold is not dead air."""
        if on_hold == self._hold_want:
            return
        if len(self._hold_marks) >= MAX_PENDING_HOLD_MARKS:
            raise OverflowError("too many pending hold marks")
        self._hold_want = on_hold
        frame = max(round(t_s / _FRAME_S), self._cursor)
        self._hold_marks.append((frame, on_hold))

    def suspend(self, t_s: float, reason: str) -> list[MetricEvent]:
        """Audio is missing from call time ``t_s`` for ``reason``; return what that closes.

        The gap starts at ``t_s`` or at the audio already analysed, if later; a leg behind
        ``t_s`` is silence up to it (as in tick). Open segments, silence and talk-over close
        there: a silence of at least dead_air_min_s as DeadAir(truncated=True), a shorter one
        is dropped. Until resume(), fed audio is dropped and tick() does nothing. Hold is kept.
        Paused, only the paused samples stop (given up to ``t_s``); the gap is listed from
        the pause's end, if it outlasts the pause.
        """
        if self.finished:
            raise RuntimeError("call already finished")
        if reason not in GAP_REASONS:
            raise ValueError(f"gap reason {reason!r} not one of {GAP_REASONS}")
        out: list[MetricEvent] = []
        if self._gap is not None:
            return out
        if len(self.gaps) >= MAX_GAPS_PER_CALL:
            raise OverflowError("too many gaps in one call")
        frame = self._frame(t_s)
        if self._pause_start is None:
            self._stop(frame, out)
            self._gap_start = frame
        else:
            self._paused_samples(frame, out, partial=True)
        self._gap = reason
        self._floor = frame
        return out

    def resume(self, t_s: float) -> list[MetricEvent]:
        """Audio is present again from call time ``t_s``: both legs' timelines jump there.

        Hold changes inside the gap apply at its end; a silence (or hold) starts there anew.
        Paused, the paused samples go on from there; the analysis waits for unpause().
        """
        if self.finished:
            raise RuntimeError("call already finished")
        out: list[MetricEvent] = []
        if self._gap is None:
            return out
        frame = self._frame(t_s)
        self._floor = frame
        if self._pause_start is not None:
            self._gap = None
            self._sample_at = frame
            return out
        self._end_gap(frame)
        self._gap = None
        self._start(frame, out)
        return out

    def pause(self, t_s: float) -> list[MetricEvent]:
        """The call is paused for PCI from call time ``t_s``: both legs; return what closes.

        What is open closes as at a gap's start (at ``t_s`` or at the audio already analysed,
        if later). Until unpause(), fed audio is dropped (counted in frames_paused) and tick()
        gives paused samples. In a gap, the gap's listed part ends here. Idempotent; paused
        again where a pause ended, that pause goes on (one interval).
        """
        if self.finished:
            raise RuntimeError("call already finished")
        out: list[MetricEvent] = []
        if self._pause_start is not None:
            return out
        if len(self.pauses) >= MAX_PAUSES_PER_CALL:
            raise OverflowError("too many pauses in one call")
        frame = self._frame(t_s)
        if self._gap is None:
            self._stop(frame, out)
            self._sample_at = frame
        else:
            self._end_gap(frame)
        self._pause_start = self._floor = frame
        if self.pauses and self.pauses[-1][1] == _t(frame):  # paused again where it ended
            self._pause_start = round(self.pauses.pop()[0] / _FRAME_S)
        return out

    def unpause(self, t_s: float) -> list[MetricEvent]:
        """The pause ends at call time ``t_s``: the analysis starts over there, as after a gap.

        Returns the last paused samples (the second cut by the unpause). In a gap, the gap's
        listed part starts here. Without a pause, nothing happens.
        """
        if self.finished:
            raise RuntimeError("call already finished")
        out: list[MetricEvent] = []
        if self._pause_start is None:
            return out
        frame = self._frame(t_s)
        if self._gap is None:
            self._paused_samples(frame, out, partial=True)
        self._end_pause(frame)
        self._floor = frame
        if self._gap is None:
            self._start(frame, out)
        else:
            self._gap_start = frame
        return out

    def _frame(self, t_s: float) -> int:
        """The frame of a change of state at call time ``t_s``.

        Never before the last change, nor before what was analysed or given as paused samples.
        """
        frame = max(round(t_s / _FRAME_S), self._floor)
        if self._gap is None:
            if self._pause_start is None:
                frame = max(frame, self._cursor, *(la.frames for la in self.legs.values()))
            else:
                frame = max(frame, self._sample_at)
        return frame

    def _stop(self, frame: int, out: list[MetricEvent]) -> None:
        """The analysis stops at ``frame`` (a gap or a pause begins): close what is open."""
        for la in self.legs.values():
            for ev in la.fill_to(frame):
                self._leg_event(ev, out)
        self._analyse(out, final=True)
        for la in self.legs.values():
            for ev in la.suspend(frame * _FRAME_S):
                self._leg_event(ev, out)
        self._advance(frame, out)
        if self._quiet_start is not None:
            self._close_quiet(frame, out, truncated=True)
        if self._over_start is not None:
            self._close_over(frame, out)
        for leg in LEGS:  # the segments closed at `frame`: their ends are the last marks
            self._marks[leg].clear()
            self._in_speech[leg] = False
        while self._hold_marks and self._hold_marks[0][0] <= frame:
            self._set_hold_now(self._hold_marks.popleft()[1], frame)
        if self._hold:
            self._close_hold(frame)

    def _start(self, frame: int, out: list[MetricEvent]) -> None:
        """The analysis starts over at ``frame`` (no gap nor pause is open any more)."""
        for la in self.legs.values():
            la.resume(frame * _FRAME_S)
        while self._hold_marks and self._hold_marks[0][0] <= frame:
            self._hold = self._hold_marks.popleft()[1]
        self._hold_start = frame
        self._cursor = frame
        self._changed(frame, out)

    def _paused_samples(self, upto: int, out: list[MetricEvent], *, partial: bool) -> None:
        """Each leg's paused samples of the seconds up to ``upto`` (and the cut one: partial)."""
        at = self._sample_at
        while at < upto:
            end = min(upto, (at // _FRAMES_PER_S + 1) * _FRAMES_PER_S)
            if not partial and end % _FRAMES_PER_S:
                break
            for la in self.legs.values():
                out.append(la.paused_sample(at, end))
            at = end
        self._sample_at = at

    def _end_gap(self, frame: int) -> None:
        """The gap's listed part (if any) ends at ``frame``."""
        start = self._gap_start
        if start is not None and self._gap is not None and frame > start:
            self.gaps.append(Gap(_t(start), _t(frame), self._gap))
        self._gap_start = None

    def _end_pause(self, frame: int, *, at_end: bool = False) -> None:
        """The pause ends at ``frame``; listed if not empty, or if the result ends in it."""
        start = self._pause_start
        assert start is not None
        if frame > start or at_end:
            self.pauses.append((_t(start), _t(frame)))
        self._pause_start = None

    def finish(self, end_s: float | None = None) -> CallResult:
        """End the call; return its CallResult (whose ``events`` are the last events).

        Neither suspended nor paused, the call ends at its longest leg, as its audio does.
        Else the open gap or pause runs to ``end_s`` (the call's real end), or ends where it
        started (a pause: where its paused samples end).
        """
        if self.finished:
            raise RuntimeError("call already finished")
        out: list[MetricEvent] = []
        paused_at_end = self._pause_start is not None
        if self._gap is None and self._pause_start is None:
            self._analyse(out, final=True)
            for la in self.legs.values():
                for ev in la.finish():
                    self._leg_event(ev, out)
            end = max(la.frames for la in self.legs.values())
            self._advance(end, out)
            self._close_runs(end, out)
            if self._hold:
                self._close_hold(end)
        else:
            end = self._frame(end_s if end_s is not None else 0.0)
            if self._pause_start is not None:
                if self._gap is None:
                    self._paused_samples(end, out, partial=True)
                self._end_pause(end, at_end=True)
            else:
                self._end_gap(end)
            self._hold_marks.clear()
        self.finished = True
        return self._result(end, out, paused_at_end)

    def snapshot(self, t_s: float | None = None) -> CallResult:
        """The result so far, as if the audio stopped at ``t_s``; this analyzer is unchanged.

        It is what ``suspend(t_s, ...)`` then ``finish(t_s)`` would return, taken on a copy:
        open segments and talk-over are cut at the audio analysed (at least up to ``t_s``), a
        silence still open is a truncated dead air (if long enough), levels and counts are
        the legs' current state, and the coverage ends there (no gap is added). ``t_s=None``
        cuts at the end of the audio analysed, so no silence is made up. Suspended or paused,
        the open gap or pause runs to ``t_s`` (or ends where it started; see finish), and a
        pause still open gives ``paused_at_end``. The result's ``events`` is empty.
        Against ``finish()`` of the same audio, the summary differs only in a silence still
        open at the end, which ``finish`` closes as ended and a snapshot as truncated.
        """
        if self.finished:
            raise RuntimeError("call already finished")
        fork = self._fork()
        if fork._gap is None and fork._pause_start is None:
            cut = t_s if t_s is not None else max(la.frames for la in fork.legs.values()) * _FRAME_S
            fork.suspend(cut, GAP_REASONS[0])  # an empty gap: nothing is listed
            result = fork.finish(cut)
        else:
            result = fork.finish(t_s)
        return dataclasses.replace(result, events=[])

    def _fork(self) -> CallAnalyzer:
        """An independent copy of the whole analysis state (see snapshot)."""
        other = copy.copy(self)
        other.legs = {leg: la.fork() for leg, la in self.legs.items()}
        other._leg_c, other._leg_a = other.legs["customer"], other.legs["agent"]
        other._echo = {leg: es[:] for leg, es in self._echo.items()}
        other._echo_c, other._echo_a = other._echo["customer"], other._echo["agent"]
        other._marks = {leg: deque(q) for leg, q in self._marks.items()}
        other._hold_marks = deque(self._hold_marks)
        other._in_speech = dict(self._in_speech)
        other._seg_start = dict(self._seg_start)
        other._clip_windows = {leg: deque(w, maxlen=w.maxlen)
                               for leg, w in self._clip_windows.items()}
        other._clip_sums = {leg: list(v) for leg, v in self._clip_sums.items()}
        other._clip_alerting = dict(self._clip_alerting)
        other._level_alerted = dict(self._level_alerted)
        other.dead_air = list(self.dead_air)
        other.talk_over = list(self.talk_over)
        other.alerts = list(self.alerts)
        other.holds = list(self.holds)
        other.gaps = list(self.gaps)
        other.pauses = list(self.pauses)
        other.frames_paused = dict(self.frames_paused)
        return other

    def _result(self, end: int, events: list[MetricEvent], paused_at_end: bool) -> CallResult:
        cuts = sorted([*((g.start_s, g.end_s) for g in self.gaps), *self.pauses])
        coverage: list[tuple[float, float]] = []
        at = 0.0
        for start_s, end_s in cuts:
            if start_s > at:
                coverage.append((at, start_s))
            at = end_s
        if _t(end) > at or not cuts:
            coverage.append((at, _t(end)))
        legs: dict[Leg, LegResult] = {}
        for leg, la in self.legs.items():
            segs = la.segments
            legs[leg] = LegResult(
                tuple((s * FRAME_MS / 1000, e * FRAME_MS / 1000)
                      for s, e in zip(segs[0::2], segs[1::2], strict=True)),
                *la.levels(), la.samples, la.clipped, la.clip_events, la.codec_max)
        return CallResult(
            self.sample_rate, self.codec, _t(end), legs, tuple(self.dead_air),
            tuple(self.talk_over), tuple(self.alerts), tuple(self.holds), tuple(self.gaps),
            tuple(coverage), round(sum(e - s for s, e in coverage), 3), events,
            tuple(self.pauses), paused_at_end)

    # -- per-leg events --------------------------------------------------------------------
    def _leg_event(self, ev: MetricEvent, out: list[MetricEvent]) -> None:
        out.append(ev)
        if isinstance(ev, SegmentStarted):
            self._marks[ev.leg].append((round(ev.start_s / _FRAME_S), True))
        elif isinstance(ev, SegmentEnded):
            self._marks[ev.leg].append((round(ev.end_s / _FRAME_S), False))
        elif isinstance(ev, LegSample):
            self._check_clipping(ev, out)
            if ev.speech_level_dbov is not None and not self._level_alerted[ev.leg]:
                self._check_level(ev, out)

    def _check_clipping(self, ev: LegSample, out: list[MetricEvent]) -> None:
        window = self._clip_windows[ev.leg]
        sums = self._clip_sums[ev.leg]  # the window's clipped and sample counts
        if len(window) == window.maxlen:
            old_c, old_n = window[0]
            sums[0] -= old_c
            sums[1] -= old_n
        n = round(ev.covered_s * self.sample_rate)
        window.append((ev.clipped, n))
        sums[0] += ev.clipped
        sums[1] += n
        ratio = sums[0] / max(1, sums[1])
        if ratio > self.config.clip_alert_ratio:
            if not self._clip_alerting[ev.leg]:
                self._clip_alerting[ev.leg] = True
                self._alert("clipping", "warn", ev.t_s + ev.covered_s, ev.leg, ratio, out)
        else:
            self._clip_alerting[ev.leg] = False

    def _check_level(self, ev: LegSample, out: list[MetricEvent]) -> None:
        """too_quiet/too_loud once per leg, judged on the leg's speech level so far (the RMS
        over its speech frames, given once level_min_speech_s of speech is in: spec v1.1)."""
        level = ev.speech_level_dbov
        assert level is not None
        if level <= self.config.too_quiet_dbov:
            self._level_alerted[ev.leg] = True
            self._alert("too_quiet", "warn", ev.t_s + ev.covered_s, ev.leg, level, out)
        elif level >= self.config.too_loud_dbov:
            self._level_alerted[ev.leg] = True
            self._alert("too_loud", "warn", ev.t_s + ev.covered_s, ev.leg, level, out)

    def talk_time_s(self, leg: Leg) -> float:
        """Return the leg's talk time so far: closed segments plus the open one to its horizon."""
        la = self.legs[leg]
        frames = la.talk_frames
        if la.open_start is not None:
            frames += max(0, la.horizon() - la.open_start)
        return frames * _FRAME_S

    def _alert(self, kind: AlertType, severity: Severity, at_s: float, leg: Leg | None,
               value: float, out: list[MetricEvent]) -> None:
        alert = Alert(kind, severity, round(at_s, 3), leg, round(value, 6))
        self.alerts.append(alert)
        out.append(alert)

    # -- the joint timeline ----------------------------------------------------------------
    def _advance(self, target: int, out: list[MetricEvent]) -> None:
        queues = [*self._marks.values(), self._hold_marks]
        while True:
            nxt = target
            for q in queues:
                if q and q[0][0] < nxt:
                    nxt = q[0][0]
            if nxt > self._cursor:
                self._span(nxt, out)
                self._cursor = nxt
            if nxt >= target:
                return
            for leg in LEGS:
                q = self._marks[leg]
                while q and q[0][0] == nxt:
                    on = q.popleft()[1]
                    self._in_speech[leg] = on
                    if on:
                        self._seg_start[leg] = nxt
            while self._hold_marks and self._hold_marks[0][0] == nxt:
                self._set_hold_now(self._hold_marks.popleft()[1], nxt)
            self._changed(nxt, out)

    def _set_hold_now(self, on: bool, frame: int) -> None:
        if on and not self._hold:
            self._hold_start = frame
        elif not on and self._hold:
            self._close_hold(frame)
        self._hold = on

    def _close_hold(self, frame: int) -> None:
        if frame > self._hold_start:
            self.holds.append((_t(self._hold_start), _t(frame)))

    def _span(self, end: int, out: list[MetricEvent]) -> None:
        """Fire the alerts whose thresholds fall inside (cursor, end] while nothing changes."""
        frames_per_s = 1000 / FRAME_MS
        if self._quiet_start is not None:
            levels = self.config.dead_air_alerts_s
            while self._dead_fired < len(levels):
                after_s, severity = levels[self._dead_fired]
                at = self._quiet_start + round(after_s * frames_per_s)
                if at > end:
                    break
                self._dead_fired += 1
                self._alert("dead_air", severity, _t(at), None, after_s, out)
        if self._over_start is not None:
            single = self._over_start + round(self.config.talk_over_alert_single_s * frames_per_s)
            if not self._over_alerted and single <= end:
                self._over_alerted = True
                self._alert("talk_over", "warn", _t(single), None,
                            self.config.talk_over_alert_single_s, out)
            total = round(self.config.talk_over_alert_total_s * frames_per_s)
            at = self._over_start + total - self._over_total
            if not self._over_total_alerted and at <= end:
                self._over_total_alerted = True
                self._alert("talk_over", "alert", _t(at), None,
                            self.config.talk_over_alert_total_s, out)

    def _changed(self, frame: int, out: list[MetricEvent]) -> None:
        in_c, in_a = self._in_speech["customer"], self._in_speech["agent"]
        quiet = not in_c and not in_a and not self._hold
        over = in_c and in_a
        if self._quiet_start is not None and not quiet:
            self._close_quiet(frame, out)
        elif self._quiet_start is None and quiet:
            self._quiet_start = frame
            self._dead_fired = 0
        if self._over_start is not None and not over:
            self._close_over(frame, out)
        elif self._over_start is None and over:
            self._over_start = frame
            self._over_alerted = False
            both_frames = self.config.talk_over_both_ms / FRAME_MS
            s_c, s_a = self._seg_start["customer"], self._seg_start["agent"]
            if abs(s_c - s_a) <= both_frames:
                self._over_by = "both"
            else:
                self._over_by = "customer" if s_c > s_a else "agent"

    def _close_quiet(self, frame: int, out: list[MetricEvent], truncated: bool = False) -> None:
        start = self._quiet_start
        assert start is not None
        self._quiet_start = None
        if (frame - start) * _FRAME_S >= self.config.dead_air_min_s - 1e-9:
            ev = DeadAir(_t(start), _t(frame), _t(frame - start), truncated)
            self.dead_air.append(ev)
            out.append(ev)

    def _close_over(self, frame: int, out: list[MetricEvent]) -> None:
        start = self._over_start
        assert start is not None
        self._over_start = None
        if (frame - start) * FRAME_MS >= self.config.talk_over_min_ms:
            self._over_total += frame - start
            ev = TalkOver(_t(start), _t(frame), _t(frame - start), self._over_by)  # type: ignore[arg-type]
            self.talk_over.append(ev)
            out.append(ev)

    def _close_runs(self, end: int, out: list[MetricEvent]) -> None:
        if self._quiet_start is not None:
            self._close_quiet(end, out)
        if self._over_start is not None:
            self._close_over(end, out)
