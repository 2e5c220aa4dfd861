"""LegAnalyzer: one leg's frames in; per-second samples and speech segments out.

Levels (active_level_dbov, level_dbov_1s, and through them too_quiet/too_loud) are P.56
method B over the leg's gate-passing frames, held MetricsConfig.level_gate_hold_ms after
each, so that steady line noise, which the gate keeps from webrtcvad, stays out of them too.

A gap (suspend ... resume) is audio that is missing, not silence: the open segment closes where
the audio stopped, nothing is analysed inside the gap, and on resume the leg starts over as at
the call's start (noise floor, P.56 envelope and hang-over, clip run, webrtcvad's own state and
the open speech run are reset) while its totals (segments, histograms, sums, clips) carry on.
A PCI pause stops and restarts a leg the same way (CallAnalyzer.pause).

Speech is what webrtcvad calls speech among the frames every gate passes: the noise floor's, the
tone and babble gates (in ``leg_block``), and, in a call, the echo gate, which needs the other
leg's levels of the same frames. So in a CallAnalyzer the two legs run in lock-step (``pair``):
a leg's frames wait, queued, until the other leg's audio for them is in (see CallAnalyzer).
"""

from __future__ import annotations

import copy
import logging
import math
from array import array
from collections import deque

import webrtcvad

from edgeqa.metrics import kernels
from edgeqa.metrics.codecs import Codec, clip_level
from edgeqa.metrics.config import FRAME_MS, SAMPLE_RATES, MetricsConfig
from edgeqa.metrics.events import Leg, LegSample, SegmentEnded, SegmentStarted
from edgeqa.metrics.level import (
    active_level_dbov,
    active_samples,
    envelope_k_q20,
    envelope_shift,
    rms_dbov,
)
from edgeqa.metrics.reference import (
    FRAME_OUT_STRIDE,
    LEVEL_FLOOR_CDB,
    LS_ACTIVE_BITS,
    LS_BABBLE_MARGIN_CDB,
    LS_BITS,
    LS_CLIP_EVENTS,
    LS_CLIP_LEVEL,
    LS_CLIP_RUN,
    LS_CLIPPED,
    LS_ENV_K,
    LS_ENV_P,
    LS_ENV_Q,
    LS_ENV_SHIFT,
    LS_FLOOR_CDB,
    LS_FLOOR_INIT_CDB,
    LS_FLOOR_RISE_CDB,
    LS_FLOOR_SET,
    LS_GATE_ABS_CDB,
    LS_GATE_MARGIN_CDB,
    LS_HANG_SAMPLES,
    LS_HIST,
    LS_HIST_ALL,
    LS_LAST_GE,
    LS_P56_HOLD_FRAMES,
    LS_P56_HOLD_LEFT,
    LS_SAMPLE_N,
    LS_SPEECH_SUMSQ,
    LS_SUMSQ,
    LS_TALK_CDB,
    LS_TALK_DECAY_CDB,
    LS_TONE_GAIN_X100,
    LS_TONE_HANG_FRAMES,
    LS_TONE_HANG_LEFT,
    LS_TONE_MIN_RUN,
    LS_TONE_RUN,
    P56_LEVELS,
    SEG_CONFIRMED,
    SS_BRIDGE_FRAMES,
    SS_CONFIRMED,
    SS_END_TRIM_FRAMES,
    SS_FRAME_N,
    SS_LAST,
    SS_MIN_FRAMES,
    SS_PAD_FRAMES,
    SS_START,
    new_leg_state,
    new_segment_state,
)

log = logging.getLogger(__name__)


def _frozen(data: bytes | bytearray | memoryview) -> memoryview:
    """``data`` as a byte view that nothing can change: bytes as they are, anything else (a
    bytearray, a view of one, a receiver's buffer) copied."""
    if isinstance(data, memoryview) and data.readonly and isinstance(data.obj, bytes):
        return data.cast("B") if data.format != "B" else data
    return memoryview(data if isinstance(data, bytes) else bytes(data))

try:  # webrtcvad-wheels' C entry point: Vad.is_speech only adds a Python frame around it
    from _webrtcvad import process as _vad_process  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - another build of the package
    _vad_process = None


def _is_speech(vad: webrtcvad.Vad, rate: int, frame: bytes, frame_len: int) -> bool:
    return bool(vad.is_speech(frame, rate))

#: Frames per per-second sample; kernel blocks never cross a second.
FRAMES_PER_S = 1000 // FRAME_MS
#: The other leg's leg_block output where it has no audio: digital silence, no candidate.
_SILENT_OUT = array("q", [LEVEL_FLOOR_CDB, 0, 0, 0] * FRAMES_PER_S)
#: A hole in a feed (audio that skips ahead, no gap declared) up to this long is filled with
#: silence; a longer one is refused.
MAX_HOLE_FILL_S = 60
LegEvent = LegSample | SegmentStarted | SegmentEnded
#: Leg state slots that a resume sets back to a new leg's values (see the module docstring).
_RESUME_RESET = (LS_ENV_P, LS_ENV_Q, LS_CLIP_RUN, LS_FLOOR_CDB, LS_FLOOR_SET, LS_BITS,
                 LS_ACTIVE_BITS, LS_P56_HOLD_LEFT, LS_TALK_CDB, LS_TONE_RUN, LS_TONE_HANG_LEFT,
                 *range(LS_LAST_GE, LS_LAST_GE + P56_LEVELS + 1))


class LegAnalyzer:
    """Streams one leg: feed int16 LE frames with their start time; read events back.

    The same object serves a live tap (one 20 ms frame per call) and a file (any number of
    whole frames per call): state is carried across calls, so the results are identical.
    """

    def __init__(self, leg: Leg, sample_rate: int, codec: Codec = "pcm16",
                 config: MetricsConfig | None = None) -> None:
        if sample_rate not in SAMPLE_RATES:
            raise ValueError(f"sample rate {sample_rate} Hz not supported (8000 or 16000)")
        cfg = config or MetricsConfig()
        self.leg: Leg = leg
        self.sample_rate = sample_rate
        self.codec: Codec = codec
        self.config = cfg
        self.frame_len = sample_rate * FRAME_MS // 1000
        self.frame_bytes = 2 * self.frame_len
        self.frame_s = FRAME_MS / 1000.0
        st = new_leg_state()
        st[LS_CLIP_LEVEL] = clip_level(codec)
        shift = envelope_shift(sample_rate)
        st[LS_ENV_SHIFT] = shift
        st[LS_ENV_K] = envelope_k_q20(sample_rate, cfg.p56_time_constant_s, 1 << shift)
        st[LS_HANG_SAMPLES] = round(cfg.p56_hangover_s * sample_rate)
        st[LS_GATE_MARGIN_CDB] = round(cfg.gate_margin_db * 100)
        st[LS_GATE_ABS_CDB] = round(cfg.gate_abs_dbov * 100)
        st[LS_FLOOR_RISE_CDB] = round(cfg.floor_rise_db_per_s * 100 * FRAME_MS / 1000)
        st[LS_FLOOR_INIT_CDB] = round(cfg.floor_init_max_dbov * 100)
        st[LS_P56_HOLD_FRAMES] = cfg.level_gate_hold_ms // FRAME_MS
        st[LS_BABBLE_MARGIN_CDB] = round(cfg.babble_margin_db * 100)
        st[LS_TALK_DECAY_CDB] = round(cfg.talk_level_decay_db_per_s * FRAME_MS / 10)
        st[LS_TONE_GAIN_X100] = (0 if cfg.tone_gain_db == 0
                                 else round(100 * 10 ** (cfg.tone_gain_db / 10)))
        st[LS_TONE_MIN_RUN] = max(1, cfg.tone_min_ms // FRAME_MS)
        st[LS_TONE_HANG_FRAMES] = cfg.tone_hang_ms // FRAME_MS
        self._st = st
        seg = new_segment_state()
        seg[SS_BRIDGE_FRAMES] = cfg.segment_bridge_ms // FRAME_MS
        seg[SS_MIN_FRAMES] = math.ceil(cfg.min_segment_ms / FRAME_MS)
        seg[SS_END_TRIM_FRAMES] = cfg.vad_end_trim_ms // FRAME_MS
        seg[SS_PAD_FRAMES] = cfg.speech_pad_ms // FRAME_MS
        self._seg = seg
        self._out = array("q", bytes(8 * FRAME_OUT_STRIDE * FRAMES_PER_S))
        self._cand = array("q", bytes(8 * FRAMES_PER_S))
        self._events = array("q", bytes(8 * 3 * FRAMES_PER_S))
        self._new_vad()
        self._pending = b""
        self.frames = 0  # the next frame's index (call time / 20 ms); skips gaps
        self.done = 0  # the next frame to analyse (< frames while frames wait in the queue)
        #: Paired (CallAnalyzer): the chunks of whole frames fed and not yet analysed (bytes,
        #: or views of bytes: nothing that can change under them), the first from _queue_at.
        self._queue: deque[memoryview] | None = None
        self._queue_at = 0
        self.frames_dropped = 0  # late or duplicate frames ignored
        self.frames_in_gap = 0  # frames fed while suspended, ignored
        self.suspended = False
        self._first_frame = 0  # no segment starts before this frame (the last resume)
        self._sec_start = 0  # the first frame of the current per-second sample
        self.vad_calls = 0
        self._sec_speech = 0
        self._sec_sumsq = 0
        self._sec_speech_sumsq = 0
        self._sec_clipped = 0
        self._sec_hist = [0] * (P56_LEVELS + 1)
        self.segments = array("q")  # closed segments as start, end frame pairs
        self.open_start: int | None = None  # a confirmed segment not yet closed
        self.talk_frames = 0  # frames inside closed segments
        self.speech_frames = 0  # frames the gate and the VAD took for speech, up to the last second

    def set_codec(self, codec: Codec) -> None:
        """The leg's audio comes in ``codec`` from now on (its clip level; the rate stays)."""
        self.codec = codec
        self._st[LS_CLIP_LEVEL] = clip_level(codec)

    def _new_vad(self) -> None:
        self._vad = webrtcvad.Vad(self.config.vad_mode)
        if _vad_process is not None:
            self._classify, self._vad_handle = _vad_process, self._vad._vad
        else:
            self._classify, self._vad_handle = _is_speech, self._vad

    # -- feeding ---------------------------------------------------------------------------
    def feed(self, pcm: bytes | bytearray | memoryview, t_s: float) -> list[LegEvent]:
        """Analyse int16 LE PCM starting at ``t_s``; return the events it completed.

        A start after the next expected frame is a hole in the feed (filled with silence up
        to MAX_HOLE_FILL_S); frames before it are late or duplicate and are dropped. While
        suspended, everything fed is dropped (counted in frames_in_gap).
        """
        events: list[LegEvent] = []
        if self.suspended:
            self.frames_in_gap += len(pcm) // self.frame_bytes
            return events
        if (len(pcm) == self.frame_bytes and not self._pending
                and round(t_s / self.frame_s) == self.frames):  # the live case: one frame
            if self._queue is not None:
                self._queue.append(_frozen(pcm))
                self.frames += 1
            else:
                self._block(pcm, 1, events)
                self.frames = self.done
            return events
        data = bytes(pcm)
        if self._pending:  # continues the partial frame kept from the last feed
            data = self._pending + data
            self._pending = b""
        else:
            first = round(t_s / self.frame_s)
            if first > self.frames:
                hole = first - self.frames
                if hole > MAX_HOLE_FILL_S * FRAMES_PER_S:
                    raise ValueError(
                        f"{self.leg}: hole of {hole} frames exceeds {MAX_HOLE_FILL_S} s")
                self._fill(hole, events)
            elif first < self.frames:
                skip = (self.frames - first) * self.frame_bytes
                self.frames_dropped += min(len(data), skip) // self.frame_bytes
                data = data[skip:]
        whole = len(data) - len(data) % self.frame_bytes
        if whole:
            self._run(data[:whole] if whole != len(data) else data, events)
        self._pending = data[whole:]
        return events

    def _fill(self, n: int, events: list[LegEvent]) -> None:
        """Analyse ``n`` frames of digital silence, a second at a time."""
        second = bytes(self.frame_bytes * FRAMES_PER_S)
        while n > 0:
            k = min(n, FRAMES_PER_S)
            self._run(second[:k * self.frame_bytes], events)
            n -= k

    def _run(self, data: bytes | memoryview, events: list[LegEvent]) -> None:
        fb = self.frame_bytes
        n_total = len(data) // fb
        if self._queue is not None:  # paired: the CallAnalyzer analyses it with the other leg
            if n_total:
                self._queue.append(_frozen(data)[:n_total * fb])
                self.frames += n_total
            return
        pos = 0
        while pos < n_total:
            n = min(FRAMES_PER_S - self.done % FRAMES_PER_S, n_total - pos)
            self._block(memoryview(data)[pos * fb:(pos + n) * fb], n, events)
            pos += n
        self.frames = self.done

    def _block(self, pcm: bytes | bytearray | memoryview, n: int, events: list[LegEvent]) -> None:
        """Analyse ``n`` frames alone (not paired: no echo gate)."""
        self._speech_block(pcm, n, self._gate_block(pcm), events)

    def _gate_block(self, pcm: bytes | bytearray | memoryview) -> int:
        """The frames' stats, P.56 and gates (leg_block); return the speech candidates."""
        return kernels.leg_block(pcm, self.frame_len, self._st, self._out, self._cand)

    def _speech_block(self, pcm: bytes | bytearray | memoryview, n: int, n_cand: int,
                      events: list[LegEvent]) -> None:
        """webrtcvad on the candidates the gates left; segments; the second's sample."""
        speech = bytearray(n)
        if n_cand:
            self._sec_speech += kernels.vad_frames(
                self._classify, self._vad_handle, self.sample_rate, pcm, self.frame_len,
                self._cand, n_cand, speech)
            self.vad_calls += n_cand
        n_ev = kernels.segment_block(speech, self._seg, self._events)
        if n_ev:
            self._segment_events(n_ev, events)
        self.done += n
        if self.done % FRAMES_PER_S == 0:
            events.append(self._second_sample())

    # -- paired analysis (CallAnalyzer) ------------------------------------------------------
    def pair(self) -> None:
        """From now on, frames fed wait in a queue for analyse_queued (before any audio)."""
        if self.done or self.frames:
            raise RuntimeError("pair a leg before feeding it")
        self._queue = deque()

    @property
    def queued(self) -> int:
        """Frames fed and not yet analysed."""
        return self.frames - self.done

    @property
    def queued_head(self) -> int:
        """Queued frames in the first chunk (a block is never cut from two chunks)."""
        if not self._queue:
            return 0
        return (len(self._queue[0]) - self._queue_at) // self.frame_bytes

    def queued_pcm(self, n: int) -> memoryview:
        """The first ``n`` queued frames (n <= queued_head)."""
        assert self._queue is not None and 0 < n <= self.queued_head
        at = self._queue_at
        return self._queue[0][at:at + n * self.frame_bytes]

    def gate_queued(self, pcm: memoryview) -> int:
        """_gate_block of the first queued frames (``queued_pcm``); return the candidates."""
        return self._gate_block(pcm)

    def speech_queued(self, pcm: memoryview, n: int, n_cand: int,
                      events: list[LegEvent]) -> None:
        """_speech_block of those frames, which leave the queue."""
        self._speech_block(pcm, n, n_cand, events)
        assert self._queue is not None
        self._queue_at += n * self.frame_bytes
        if self._queue_at >= len(self._queue[0]):
            self._queue.popleft()
            self._queue_at = 0

    def echo_gate(self, other: LegAnalyzer | None, state: array[int], n: int,
                  n_cand: int) -> int:
        """kernels.echo_gate of the frames just gated against ``other``'s (None: silence)."""
        return kernels.echo_gate(self._out, _SILENT_OUT if other is None else other._out, n,
                                 state, self._cand, n_cand)

    def fill_to(self, frame: int) -> list[LegEvent]:
        """Missing audio up to ``frame`` is silence (as in a hole in the feed); its events."""
        events: list[LegEvent] = []
        if not self.suspended and frame > self.frames:
            self._pending = b""
            self._fill(frame - self.frames, events)
        return events

    def _segment_events(self, n_ev: int, events: list[LegEvent]) -> None:
        ev = self._events
        fs = self.frame_s
        for i in range(0, 3 * n_ev, 3):
            kind, start, end = ev[i], max(ev[i + 1], self._first_frame), ev[i + 2]
            if kind == SEG_CONFIRMED:
                self.open_start = start
                events.append(SegmentStarted(self.leg, round(start * fs, 3)))
            else:
                self.open_start = None
                self.segments.extend((start, end))
                self.talk_frames += end - start
                events.append(SegmentEnded(self.leg, round(start * fs, 3), round(end * fs, 3)))

    def _second_sample(self) -> LegSample:
        st = self._st
        sumsq = st[LS_SUMSQ] - self._sec_sumsq
        speech_sumsq = st[LS_SPEECH_SUMSQ] - self._sec_speech_sumsq
        clipped = st[LS_CLIPPED] - self._sec_clipped
        hist = st[LS_HIST:LS_HIST + P56_LEVELS + 1].tolist()
        level: float | None = None
        if self._sec_speech:
            delta = [a - b for a, b in zip(hist, self._sec_hist, strict=True)]
            level = active_level_dbov(speech_sumsq, delta, self.config.p56_margin_db)
        n_frames = self.done - self._sec_start
        n = n_frames * self.frame_len
        self.speech_frames += self._sec_speech
        speech_s = self.speech_frames * self.frame_s
        total: float | None = None
        if self._sec_speech and speech_s >= self.config.level_min_speech_s:
            total = active_level_dbov(int(st[LS_SPEECH_SUMSQ]), hist, self.config.p56_margin_db)
        sample = LegSample(
            self.leg, round(self._sec_start * self.frame_s, 3), round(rms_dbov(sumsq, n), 2),
            self._sec_speech / n_frames, None if level is None else round(level, 2),
            clipped, False, round(speech_s, 3),
            None if total is None else round(total, 2), round(n_frames * self.frame_s, 3))
        self._sec_start = self.done
        self._sec_sumsq = st[LS_SUMSQ]
        self._sec_speech_sumsq = st[LS_SPEECH_SUMSQ]
        self._sec_clipped = st[LS_CLIPPED]
        self._sec_hist = hist
        self._sec_speech = 0
        return sample

    def paused_sample(self, start: int, end: int) -> LegSample:
        """The sample of frames [start, end) of one second, paused for PCI (not analysed)."""
        fs = self.frame_s
        return LegSample(self.leg, round(start * fs, 3), None, 0.0, None, 0, True,
                         round(self.speech_frames * fs, 3), None, round((end - start) * fs, 3))

    def finish(self) -> list[LegEvent]:
        """Close the open segment at the end of the audio; return its event, if any."""
        self._pending = b""
        if self.suspended:
            return []
        return self._close_run()

    def suspend(self, t_s: float) -> list[LegEvent]:
        """Audio stops at ``t_s`` (or at the audio's end, if later): close what is open there.

        Missing audio before ``t_s`` is silence, as in a hole in the feed. The open segment
        closes at the gap's start, and the partial second gets its sample; returns those.
        """
        if self.suspended:
            return []
        events: list[LegEvent] = []
        self._pending = b""
        events += self.fill_to(round(t_s / self.frame_s))
        if self.queued:
            raise RuntimeError(f"{self.leg}: suspended with {self.queued} frames queued")
        events += self._close_run()
        if self.done > self._sec_start:
            events.append(self._second_sample())
        self.suspended = True
        return events

    def resume(self, t_s: float) -> None:
        """Audio is present again from ``t_s``: skip the gap and start over (module docstring)."""
        if not self.suspended:
            return
        frame = max(round(t_s / self.frame_s), self.frames)
        fresh = new_leg_state()
        for slot in _RESUME_RESET:
            self._st[slot] = fresh[slot]
        seg = self._seg
        seg[SS_FRAME_N] = frame
        seg[SS_START] = -1
        seg[SS_CONFIRMED] = 0
        self._new_vad()
        self.frames = self.done = self._first_frame = self._sec_start = frame
        if self._queue is not None:
            self._queue.clear()
            self._queue_at = 0
        self.suspended = False

    def _close_run(self) -> list[LegEvent]:
        seg = self._seg
        first = seg[SS_START]
        confirmed = seg[SS_CONFIRMED]
        seg[SS_START] = -1
        seg[SS_CONFIRMED] = 0
        if first < 0 or not confirmed:
            return []
        pad = seg[SS_PAD_FRAMES]
        start = max(self._first_frame, first - pad)
        end = min(self.done, seg[SS_LAST] + 1 + pad - seg[SS_END_TRIM_FRAMES])
        self.open_start = None
        self.segments.extend((start, end))
        self.talk_frames += end - start
        return [SegmentEnded(self.leg, round(start * self.frame_s, 3),
                             round(end * self.frame_s, 3))]

    def fork(self) -> LegAnalyzer:
        """Return an independent copy of this leg's analysis state (for a snapshot).

        The copy shares nothing mutable with this one; it gets a fresh webrtcvad instance,
        so whatever is run on the copy leaves this leg's voice detector untouched.
        """
        other = copy.copy(self)
        for name in ("_st", "_seg", "_out", "_cand", "_events", "segments"):
            setattr(other, name, getattr(self, name)[:])
        other._sec_hist = list(self._sec_hist)
        if self._queue is not None:
            other._queue = deque(self._queue)  # the chunks are immutable
        other._new_vad()
        return other

    # -- reading ---------------------------------------------------------------------------
    def horizon(self) -> int:
        """Return the frame before which this leg's segment state is final (<= frames).

        Never past the audio analysed (not the frames queued), so that a gap starting there
        cuts nothing final.
        """
        seg = self._seg
        pad = seg[SS_PAD_FRAMES]
        if seg[SS_START] < 0:
            return max(0, int(seg[SS_FRAME_N] - pad))
        if seg[SS_CONFIRMED]:
            return min(self.done, int(seg[SS_LAST] + 1 + pad - seg[SS_END_TRIM_FRAMES]))
        return max(0, int(seg[SS_START] - pad))

    @property
    def samples(self) -> int:
        """Samples analysed so far (gaps are not analysed)."""
        return int(self._st[LS_SAMPLE_N])

    @property
    def clipped(self) -> int:
        """Clipped samples so far."""
        return int(self._st[LS_CLIPPED])

    @property
    def clip_events(self) -> int:
        """Runs of three or more clipped samples so far."""
        return int(self._st[LS_CLIP_EVENTS])

    def active_level_dbov(self) -> float | None:
        """Return P.56 method B over the leg's gate-passing frames analysed so far."""
        st = self._st
        hist = st[LS_HIST:LS_HIST + P56_LEVELS + 1].tolist()
        return active_level_dbov(int(st[LS_SPEECH_SUMSQ]), hist, self.config.p56_margin_db)

    def levels(self) -> tuple[float | None, float, float | None, float]:
        """Return (active_level_dbov, its active time s, active_level_p56_all_dbov, its time s).

        Each level is computed once (a P.56 pass over its histogram).
        """
        st = self._st
        level, level_all = self.active_level_dbov(), self.active_level_p56_all_dbov()
        rate = self.sample_rate
        active_s = 0.0 if level is None else active_samples(st[LS_SPEECH_SUMSQ], level) / rate
        active_all_s = 0.0 if level_all is None else active_samples(st[LS_SUMSQ], level_all) / rate
        return level, active_s, level_all, active_all_s

    def active_level_p56_all_dbov(self) -> float | None:
        """Return the faithful P.56 method B level over every sample (noise included)."""
        st = self._st
        hist = st[LS_HIST_ALL:LS_HIST_ALL + P56_LEVELS + 1].tolist()
        return active_level_dbov(int(st[LS_SUMSQ]), hist, self.config.p56_margin_db)

    def state_bytes(self) -> int:
        """Return the bytes this leg's analyzer holds (state, buffers, segment list)."""
        import sys

        total = sys.getsizeof(self) + sys.getsizeof(self.__dict__)
        for value in vars(self).values():
            total += sys.getsizeof(value)
        return total + sum(sys.getsizeof(v) for v in self._sec_hist)
