"""LegAnalyzer: one leg's frames in; per-second samples and speech segments out.

Levels (spec v1.1): ``active_level_dbov`` is P.56 method B over every sample, as G.191 sv-p56
computes it (level.py); ``speech_level_dbov`` is the RMS over the leg's speech frames (the
speech decision's frames), and level_dbov_1s the same over each second. too_quiet/too_loud
are judged on the speech level (CallAnalyzer).

The speech level is the RMS over the frames inside the leg's speech segments (runs of speech
frames, bridged and padded: the leg's speech as the segments report it). Over the bare speech
frames it would read 1-2 dB high on a quiet or noisy leg, whose weak word edges the gate drops
(docs/metrics.md, Level). Each block's running frame energies (kernels.frame_prefix) are kept
for the last SEGMENT_ENERGY_KEEP frames: a segment's start and end are always that recent when
it is confirmed or closed, so its energy is a difference of two of them.

Codec maximum (spec: codec_max): a leg given as linear PCM ("pcm16") may carry G.711: a µ-law
or A-law call delivered as slin by a tap, or recorded as PCM16 by a phone or MixMonitor. Each
block's samples are checked against the two decode tables before it is analysed
(kernels.g711_match), and the block is judged against the lowest maximum of the laws whose
table holds every nonzero sample of it (linear's when none does). Each block decides for
itself: a sample that clips against a law's maximum and is one of its values is that law's
maximum itself, and loud linear audio is never all table values, so a block can only be taken
for a law when it is one; and a few frames that are not (a phone's packet-loss concealment in
its recording of a G.711 call) leave the rest of the leg judged as G.711. ``codec_max`` reports
a law once G711_MIN_EVIDENCE_S of nonzero samples have shown it, in blocks that make up
G711_MIN_SHARE of the leg's audio. A leg given as "ulaw" or "alaw" (the channel's codec, where
we know it) is judged against that law's maximum.

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
import itertools
import logging
import math
from array import array
from collections import deque

import webrtcvad

from edgeqa.metrics import kernels
from edgeqa.metrics.codecs import CODEC_MAX, Codec, clip_level
from edgeqa.metrics.config import FRAME_MS, SAMPLE_RATES, MetricsConfig
from edgeqa.metrics.events import Leg, LegSample, SegmentEnded, SegmentStarted
from edgeqa.metrics.level import (
    active_level_dbov,
    active_samples,
    envelope_k_q20,
    envelope_shift,
    rms_dbov,
    speech_level_dbov,
)
from edgeqa.metrics.reference import (
    FRAME_OUT_STRIDE,
    G711_ALAW,
    G711_ULAW,
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
    LS_HIST_ALL,
    LS_LAST_GE,
    LS_SAMPLE_N,
    LS_SUMSQ,
    LS_SURE_FLOOR_CDB,
    LS_SURE_TALK_CDB,
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


def _frozen(data: bytes | bytearray | memoryview) -> bytes | memoryview:
    """``data`` as bytes that nothing can change: bytes as they are, a byte view of bytes as
    it is, anything else (a bytearray, a view of one, a receiver's buffer) copied."""
    if type(data) is bytes:
        return data
    if isinstance(data, memoryview) and data.readonly and isinstance(data.obj, bytes):
        return data.cast("B") if data.format != "B" else data
    return bytes(data)

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
#: A linear leg is reported as G.711 (codec_max) once this much nonzero audio showed the law,
G711_MIN_EVIDENCE_S = 1.0
#: in blocks that make up at least this share of its audio checked.
G711_MIN_SHARE = 0.9
_G711_BOTH = G711_ULAW | G711_ALAW
#: Frames of running energy kept behind the newest (a segment ends at most bridge + 2 pads
#: before it closes, and starts at most min_segment + pad before it is confirmed).
SEGMENT_ENERGY_KEEP = 4 * FRAMES_PER_S
#: g711_match's bit of each law.
_G711_BITS: tuple[tuple[int, Codec], ...] = ((G711_ULAW, "ulaw"), (G711_ALAW, "alaw"))
#: Leg state slots that a resume sets back to a new leg's values (see the module docstring).
_RESUME_RESET = (LS_ENV_P, LS_ENV_Q, LS_CLIP_RUN, LS_FLOOR_CDB, LS_FLOOR_SET, LS_BITS,
                 LS_ACTIVE_BITS, LS_TALK_CDB, LS_TONE_RUN, LS_TONE_HANG_LEFT,
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
        shift = envelope_shift(sample_rate)
        st[LS_ENV_SHIFT] = shift
        st[LS_ENV_K] = envelope_k_q20(sample_rate, cfg.p56_time_constant_s, 1 << shift)
        st[LS_HANG_SAMPLES] = round(cfg.p56_hangover_s * sample_rate)
        st[LS_GATE_MARGIN_CDB] = round(cfg.gate_margin_db * 100)
        st[LS_GATE_ABS_CDB] = round(cfg.gate_abs_dbov * 100)
        st[LS_FLOOR_RISE_CDB] = round(cfg.floor_rise_db_per_s * 100 * FRAME_MS / 1000)
        st[LS_FLOOR_INIT_CDB] = round(cfg.floor_init_max_dbov * 100)
        st[LS_BABBLE_MARGIN_CDB] = round(cfg.babble_margin_db * 100)
        st[LS_TALK_DECAY_CDB] = round(cfg.talk_level_decay_db_per_s * FRAME_MS / 10)
        st[LS_TONE_GAIN_X100] = (0 if cfg.tone_gain_db == 0
                                 else round(100 * 10 ** (cfg.tone_gain_db / 10)))
        st[LS_TONE_MIN_RUN] = max(1, cfg.tone_min_ms // FRAME_MS)
        st[LS_TONE_HANG_FRAMES] = cfg.tone_hang_ms // FRAME_MS
        st[LS_SURE_FLOOR_CDB] = round(cfg.sure_floor_db * 100)
        st[LS_SURE_TALK_CDB] = round(cfg.sure_talk_db * 100)
        self._st = st
        self._detect = False  # linear PCM: each block is checked for G.711 (module docstring)
        self._law_samples = [0, 0, 0]  # nonzero samples in blocks of µ-law (1), A-law (2) only
        self._linear_samples = 0  # samples in blocks of neither law
        self.set_codec(codec)
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
        self._queue: deque[bytes | memoryview] | None = None
        self._queue_at = 0
        self.frames_dropped = 0  # late or duplicate frames ignored
        self.frames_in_gap = 0  # frames fed while suspended, ignored
        self.suspended = False
        self._first_frame = 0  # no segment starts before this frame (the last resume)
        self._sec_start = 0  # the first frame of the current per-second sample
        self.vad_calls = 0  # candidates: frames webrtcvad was asked about, or sure speech
        self._sec_speech = 0
        self._sec_sumsq = 0
        self._sec_clipped = 0
        self._prefix = array("q", [0])  # running frame energy at frames _prefix_first..frames
        self._prefix_first = 0
        self._block_prefix = array("q", bytes(8 * (FRAMES_PER_S + 1)))
        self._open_energy = 0  # running energy at the open segment's start
        self.segment_sumsq = 0  # sum of squares over the closed segments' frames
        self._sec_speech_frames = 0  # speech frames (final decision) in the current second
        self.segments = array("q")  # closed segments as start, end frame pairs
        self.open_start: int | None = None  # a confirmed segment not yet closed
        self.talk_frames = 0  # frames inside closed segments
        self.speech_frames = 0  # frames the gate and the VAD took for speech, up to the last second

    def set_codec(self, codec: Codec) -> None:
        """The leg's audio comes in ``codec`` from now on (its clip level; the rate stays).

        Linear PCM is checked for G.711 content from here (module docstring).
        """
        self.codec = codec
        self._detect = codec == "pcm16"
        self._law_samples = [0, 0, 0]
        self._linear_samples = 0
        self._st[LS_CLIP_LEVEL] = clip_level(codec)

    def _check_g711(self, pcm: bytes | bytearray | memoryview) -> None:
        """Judge this block against the laws its samples are values of: set the clip level."""
        mask, nonzero = kernels.g711_match(pcm, _G711_BOTH)
        if mask in (G711_ULAW, G711_ALAW):
            self._law_samples[mask] += nonzero
        elif not mask:
            self._linear_samples += len(pcm) // 2
        laws = [c for bit, c in _G711_BITS if mask & bit] or ["pcm16"]
        self._st[LS_CLIP_LEVEL] = min(clip_level(c) for c in laws)

    @property
    def codec_max(self) -> int:
        """The maximum this leg is judged against (spec: codec_max; module docstring)."""
        if not self._detect:
            return CODEC_MAX[self.codec]
        shown = self._law_samples
        bit = G711_ULAW if shown[G711_ULAW] >= shown[G711_ALAW] else G711_ALAW
        law: Codec = "ulaw" if bit == G711_ULAW else "alaw"
        checked = shown[G711_ULAW] + shown[G711_ALAW] + self._linear_samples
        if (shown[bit] >= G711_MIN_EVIDENCE_S * self.sample_rate
                and shown[bit] >= G711_MIN_SHARE * checked):
            return CODEC_MAX[law]
        return CODEC_MAX["pcm16"]

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
        if not self._pending and round(t_s / self.frame_s) == self.frames:
            n, partial = divmod(len(pcm), self.frame_bytes)
            if self._queue is not None and n and not partial:  # paired, whole frames on time
                self._queue.append(_frozen(pcm))
                self.frames += n
                return events
            if n == 1 and not partial:  # the live case of a leg alone: one frame
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
                chunk = _frozen(data)
                self._queue.append(chunk if len(chunk) == n_total * fb
                                   else memoryview(chunk)[:n_total * fb])
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
        self.speech_block(pcm, n, self._gate_block(pcm), events)

    def _gate_block(self, pcm: bytes | bytearray | memoryview) -> int:
        """The frames' stats, P.56 and gates (leg_block); return the speech candidates."""
        if self._detect:
            self._check_g711(pcm)
        return kernels.leg_block(pcm, self.frame_len, self._st, self._out, self._cand)

    def speech_block(self, pcm: bytes | bytearray | memoryview, n: int, n_cand: int,
                     events: list[LegEvent], echo: array[int] | None = None,
                     other: LegAnalyzer | None = None) -> None:
        """The block's frames after their gates (_gate_block, gate_next): with ``echo`` (this
        leg's echo-gate state; paired), kernels.echo_gate first, against ``other``'s frames
        of the same block (None: the other leg has no audio, digital silence); then webrtcvad
        on the candidates left; the block's running frame energies (for the segments' speech
        level); segments; the second's sample. Paired, the frames then leave the queue.
        (One method: it runs for every block of every live leg, bench_switch --profile.)"""
        if echo is not None:
            n_cand = kernels.echo_gate(self._out, _SILENT_OUT if other is None else other._out,
                                       n, echo, self._cand, n_cand)
        speech = bytearray(n)
        if n_cand:
            self._sec_speech += kernels.vad_frames(
                self._classify, self._vad_handle, self.sample_rate, pcm, self.frame_len,
                self._cand, n_cand, speech)
            self.vad_calls += n_cand
            self._sec_speech_frames += speech.count(1)  # the final speech decision
        prefix, bp = self._prefix, self._block_prefix
        kernels.frame_prefix(pcm, self.frame_len, prefix[-1], bp)
        prefix.extend(bp[1:n + 1])
        extra = len(prefix) - 1 - SEGMENT_ENERGY_KEEP
        if extra > FRAMES_PER_S:
            del prefix[:extra]
            self._prefix_first += extra
        n_ev = kernels.segment_block(speech, self._seg, self._events)
        if n_ev:
            self._segment_events(n_ev, events)
        self.done += n
        if self.done % FRAMES_PER_S == 0:
            events.append(self._second_sample())
        queue = self._queue
        if queue is not None:  # paired: the frames of gate_next leave the queue
            at = self._queue_at + n * self.frame_bytes
            while queue and at >= len(queue[0]):
                at -= len(queue.popleft())
            self._queue_at = at

    def _energy_at(self, frame: int) -> int:
        """The running energy at the start of ``frame`` (one of the last frames kept)."""
        i = frame - self._prefix_first
        if not 0 <= i < len(self._prefix):
            raise RuntimeError(f"{self.leg}: frame {frame} outside the energy kept")
        return int(self._prefix[i])

    def _second_level(self) -> float | None:
        """The speech level of the second ending now: the RMS over its frames inside speech
        segments, as far as they are known (closed ones, the open one up to the horizon)."""
        first = self._sec_start
        spans: list[tuple[int, int]] = []
        segs = self.segments
        i = len(segs) - 2
        while i >= 0 and segs[i + 1] > first:
            spans.append((max(segs[i], first), segs[i + 1]))
            i -= 2
        if self.open_start is not None:
            spans.append((max(self.open_start, first), self.horizon()))
        sumsq = frames = 0
        for a, b in spans:
            if b > a:
                sumsq += self._energy_at(b) - self._energy_at(a)
                frames += b - a
        return speech_level_dbov(sumsq, frames * self.frame_len)

    def _segment_closed(self, start: int, end: int) -> None:
        self.segments.extend((start, end))
        self.talk_frames += end - start
        self.segment_sumsq += self._energy_at(end) - self._open_energy

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

    def gate_next(self, n: int) -> tuple[bytes | memoryview, int]:
        """The first ``n`` queued frames through _gate_block: (their PCM, the speech
        candidates). Frames from several chunks (a tap's frames) are joined: one block."""
        queue = self._queue
        assert queue is not None and 0 < n <= self.queued
        at, size = self._queue_at, n * self.frame_bytes
        head = queue[0]
        if at + size <= len(head):
            pcm = head if at == 0 and size == len(head) else memoryview(head)[at:at + size]
        else:
            parts, need = [memoryview(head)[at:]], size - (len(head) - at)
            for chunk in itertools.islice(queue, 1, None):
                parts.append(memoryview(chunk)[:need])
                need -= len(parts[-1])
                if need <= 0:
                    break
            pcm = b"".join(parts)
        return pcm, self._gate_block(pcm)

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
                self._open_energy = self._energy_at(start)
                events.append(SegmentStarted(self.leg, round(start * fs, 3)))
            else:
                self.open_start = None
                self._segment_closed(start, end)
                events.append(SegmentEnded(self.leg, round(start * fs, 3), round(end * fs, 3)))

    def _second_sample(self) -> LegSample:
        st = self._st
        sumsq = st[LS_SUMSQ] - self._sec_sumsq
        clipped = st[LS_CLIPPED] - self._sec_clipped
        level = self._second_level()
        n_frames = self.done - self._sec_start
        n = n_frames * self.frame_len
        self.speech_frames += self._sec_speech_frames
        speech_s = self.speech_frames * self.frame_s
        total: float | None = None
        speech_total: float | None = None
        if self._sec_speech_frames:
            speech_total, talk_s = self._speech_level_so_far()
            if talk_s >= self.config.level_min_speech_s:
                total = self.active_level_dbov()
            else:
                speech_total = None
        sample = LegSample(
            self.leg, round(self._sec_start * self.frame_s, 3), round(rms_dbov(sumsq, n), 2),
            self._sec_speech_frames / n_frames, _round2(level), clipped, False,
            round(speech_s, 3), _round2(total), round(n_frames * self.frame_s, 3),
            _round2(speech_total))
        self._sec_start = self.done
        self._sec_sumsq = st[LS_SUMSQ]
        self._sec_clipped = st[LS_CLIPPED]
        self._sec_speech = 0
        self._sec_speech_frames = 0
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
        self._prefix = array("q", [self._prefix[-1]])
        self._prefix_first = frame
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
        self._segment_closed(start, end)
        return [SegmentEnded(self.leg, round(start * self.frame_s, 3),
                             round(end * self.frame_s, 3))]

    def fork(self) -> LegAnalyzer:
        """Return an independent copy of this leg's analysis state (for a snapshot).

        The copy shares nothing mutable with this one; it gets a fresh webrtcvad instance,
        so whatever is run on the copy leaves this leg's voice detector untouched.
        """
        other = copy.copy(self)
        for name in ("_st", "_seg", "_out", "_cand", "_events", "segments", "_prefix",
                     "_block_prefix"):
            setattr(other, name, getattr(self, name)[:])
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
        """Return P.56 method B (sv-p56) over every sample analysed so far."""
        st = self._st
        hist = st[LS_HIST_ALL:LS_HIST_ALL + P56_LEVELS + 1].tolist()
        return active_level_dbov(int(st[LS_SUMSQ]), hist, self.config.p56_margin_db)

    def speech_level_dbov(self) -> float | None:
        """Return the RMS level over the leg's speech segments so far (None without any):
        the closed ones, and the open one up to the horizon."""
        return self._speech_level_so_far()[0]

    def _speech_level_so_far(self) -> tuple[float | None, float]:
        """(speech level, the seconds of speech segments it is over) so far."""
        sumsq, frames = self.segment_sumsq, self.talk_frames
        if self.open_start is not None:
            end = max(self.open_start, self.horizon())
            sumsq += self._energy_at(end) - self._open_energy
            frames += end - self.open_start
        return speech_level_dbov(sumsq, frames * self.frame_len), frames * self.frame_s

    def levels(self) -> tuple[float | None, float, float | None]:
        """Return (active_level_dbov, its active time s, speech_level_dbov)."""
        level = self.active_level_dbov()
        active_s = 0.0 if level is None else (
            active_samples(self._st[LS_SUMSQ], level) / self.sample_rate)
        return level, active_s, self.speech_level_dbov()

    def state_bytes(self) -> int:
        """Return the bytes this leg's analyzer holds (state, buffers, segment list)."""
        import sys

        total = sys.getsizeof(self) + sys.getsizeof(self.__dict__)
        for value in vars(self).values():
            total += sys.getsizeof(value)
        return total


def _round2(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
