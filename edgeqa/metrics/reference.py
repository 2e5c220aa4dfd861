"""Pure-Python metric kernels: the readable specification that ext/_kernels_c.pyx must equal.

The active level is ITU-T P.56 method B over every sample, as G.191 sv-p56 counts it: the
envelope and its hang-over run on every sample, and each sample's highest active threshold is
counted in LS_HIST_ALL (with LS_SUMSQ); level.py finds the level from those counts.

Every kernel works on integers so that C and Python agree bit for bit; the only floats are
``log10`` of an exact mean square, which both sides take from the same libm.
PCM is 16-bit signed little-endian; an odd trailing byte is ignored.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Callable

#: What the kernels accept as PCM or G.711 bytes.
BytesLike = bytes | bytearray | memoryview

#: State layout of ``leg_block`` (an ``array('q')`` of LEG_STATE_LEN int64 values).
#: Parameters, set once by the caller:
LS_CLIP_LEVEL = 0  # |x| >= this counts as clipped (0.99 * codec_max, rounded up)
LS_ENV_K = 1  # P.56 envelope coefficient (1 - g**step) in Q20
LS_HANG_SAMPLES = 2  # P.56 hang-over, samples
LS_GATE_MARGIN_CDB = 3  # a frame within this many centi-dB of the floor is not speech
LS_GATE_ABS_CDB = 4  # a frame at or below this level (centi-dBov) is not speech
LS_FLOOR_RISE_CDB = 5  # the noise floor rises at most this many centi-dB per frame
#: Running values:
LS_ENV_P = 6  # first envelope stage, Q12
LS_ENV_Q = 7  # second envelope stage, Q12
LS_CLIP_RUN = 8  # clipped samples in a row at the end of the last frame
LS_FLOOR_CDB = 9  # noise floor, centi-dBov
LS_FLOOR_SET = 10  # 0 until the first frame has set the floor
LS_SAMPLE_N = 11  # samples seen
LS_SUMSQ = 12  # sum of squares over every sample
LS_CLIPPED = 13  # clipped samples
LS_CLIP_EVENTS = 14  # runs of >= 3 clipped samples
LS_BITS = 15  # bit length of the envelope's integer part at the last sample
LS_ACTIVE_BITS = 16  # highest P.56 threshold index still active (with hang-over)
LS_LAST_GE = 17  # 17 slots: last sample index whose envelope bit length was >= k
# 34..50: unused (a level over the gate-passing frames only, before metrics spec v1.1)
LS_FLOOR_INIT_CDB = 51  # parameter: the first frame sets the floor, at most this level
LS_ENV_SHIFT = 52  # parameter: the envelope steps 2**this samples at a time
# 53..55: unused (that level's hold and energy)
LS_HIST_ALL = 56  # 17 slots: samples whose highest active threshold index was k (all frames)
#: The speech gates after the noise floor's (module docstring: tones, babble):
LS_TALK_CDB = 73  # the leg's own talker level: a peak follower of the frames that pass
LS_BABBLE_MARGIN_CDB = 74  # parameter: a frame this far below the talker level is background
LS_TALK_DECAY_CDB = 75  # parameter: the talker level falls this much per passing frame
LS_TONE_GAIN_X100 = 76  # parameter: prediction gain (x100, as a ratio) above which a frame is tonal
LS_TONE_RUN = 77  # tonal frames in a row up to the last frame
LS_TONE_HANG_FRAMES = 78  # parameter: frames after a tone frame that are tone too
LS_TONE_HANG_LEFT = 79  # frames of the hang still to come
LS_TONE_MIN_RUN = 80  # parameter: tonal frames in a row before they are a tone
LS_SURE_FLOOR_CDB = 81  # parameter: a passing frame this far above the floor (0: never) ...
LS_SURE_TALK_CDB = 82  # parameter: ... and at most this far below the talker level is speech
LEG_STATE_LEN = 83

#: P.56 thresholds: index k (1..16) stands for c_k = 2**(k-1) in int16 units.
P56_LEVELS = 16
#: ``leg_block`` writes FRAME_OUT_STRIDE values per frame: level_cdb, peak, clipped, gate.
FRAME_OUT_STRIDE = 4
#: The gate value of a frame: why it is not a speech candidate, or GATE_PASS.
GATE_NOISE = 0  # at or near the noise floor, or below the absolute gate
GATE_PASS = 1  # a candidate: webrtcvad decides
GATE_TONE = 2  # a steady single or dual tone (DTMF, call progress), or in the hang after one
GATE_BABBLE = 3  # LS_BABBLE_MARGIN_CDB or more below the leg's own talker level
GATE_ECHO = 4  # echo_gate: the other leg was this much louder within the echo window
GATE_SURE = 5  # a candidate loud enough to be speech without asking webrtcvad (its cand: ~f)
#: The tone test's linear predictor order: two sinusoids are predicted exactly by order 4.
TONE_ORDER = 4
#: The tones a frame's energy is looked for in: DTMF rows and columns, dial/ringback/busy
#: (350, 440, 480, 620 Hz) and SIT (913.8, 1370.6, 1776.7 Hz); their Goertzel coefficients
#: 2*cos(2*pi*f/rate) in Q14, at 8 and 16 kHz (written out: C and Python use the same integers).
TONE_FREQS_HZ = (697, 770, 852, 941, 1209, 1336, 1477, 1633, 350, 440, 480, 620,
                 913.8, 1370.6, 1776.7)
TONE_COEF_Q14_8K = (27980, 26956, 25701, 24219, 19073, 16325, 13085, 9315, 31538, 30831, 30467,
                    28959, 24685, 15547, 5717)
TONE_COEF_Q14_16K = (31548, 31281, 30951, 30556, 29144, 28361, 27409, 26258, 32459, 32280, 32188,
                     31802, 30681, 28135, 25111)
#: A frame is a known tone when its two strongest TONE_FREQS_HZ hold this share (%) of its energy.
TONE_SHARE_PCT = 90
#: A frame whose prediction gain reaches this (x100: 40 dB) is a tone whatever its frequencies.
TONE_PURE_GAIN_X100 = 1_000_000
#: Digital silence reads this level (centi-dBov).
LEVEL_FLOOR_CDB = -12000
#: A frame at or below this (-70 dBov: digital silence, A-law's idle code at -72) neither sets
#: nor moves the noise floor. It is no line noise: a leg that starts with 20 ms of zeros (every
#: phone recording does) or carries zeroed frames (packet loss) must not pull the floor to
#: -120, from which it takes 25 s to climb back to the line's noise while that noise passes the
#: gate as speech. A floor below -63 dBov gates nothing the -55 dBov gate passes anyway.
FLOOR_SILENCE_CDB = -7000
_NEVER = -(1 << 40)

#: State layout of ``echo_gate`` (one per leg: it holds the *other* leg's recent levels).
EG_WINDOW = 0  # parameter: frames before the current one in which the other leg may be the source
EG_MARGIN_CDB = 1  # parameter: a frame less than this below the other leg's loudest is never echo
EG_LEVELS = 2  # EG_MAX_WINDOW slots: the other leg's last EG_WINDOW levels, oldest first
EG_MAX_WINDOW = 50
EG_LOSS_CDB = EG_LEVELS + EG_MAX_WINDOW  # this leg's echo loss: a running low quantile of the
#   drop (other leg's loudest in the window - this frame) over the frames the other leg talks
EG_SEEN = EG_LOSS_CDB + 1  # how many such frames the estimate has seen (up to EG_WARMUP_FRAMES)
ECHO_STATE_LEN = EG_SEEN + 1
#: The other leg "talks" (a frame counts for the echo loss) when its loudest is at least this.
EG_ACTIVE_CDB = -4000
#: Until this many such frames are in, every frame the margin allows is taken as echo (one
#: second of the other leg talking); then only the frames near this leg's own echo loss.
EG_WARMUP_FRAMES = 50
#: The first estimate is at most this (a line with no echo climbs from there).
EG_LOSS_START_CDB = 4000
#: The quantile tracker's steps: down 9 times up, so it settles where a tenth of the frames
#: fall below: the echo's own drop while the other leg talks alone, not the double-talk (this
#: leg's talker over the other, a small drop) nor the pauses between words (a large one). Fast
#: in the warm-up (1 dB a frame down), then slow (0.09 dB), so that seconds of double-talk
#: move it by a few dB only: the talker who speaks over the other is not learnt as its echo.
EG_WARMUP_UP_CDB = 11
EG_WARMUP_DOWN_CDB = 100
EG_LOSS_UP_CDB = 1
EG_LOSS_DOWN_CDB = 9
#: After the warm-up a frame is echo when its drop is at least the echo loss minus this.
EG_TOLERANCE_CDB = 800

#: State layout of ``segment_block``.
SS_BRIDGE_FRAMES = 0  # gaps shorter than this many frames are bridged
SS_MIN_FRAMES = 1  # bridged runs shorter than this many frames are dropped
SS_END_TRIM_FRAMES = 2  # frames taken off each run's end (VAD hang-over compensation)
SS_PAD_FRAMES = 3  # frames added before and after each run (speech edges under the gate)
SS_FRAME_N = 4  # frames seen
SS_START = 5  # first speech frame of the open run, or -1
SS_LAST = 6  # last speech frame of the open run
SS_CONFIRMED = 7  # 1 once the open run is long enough to be kept
SEG_STATE_LEN = 8
#: ``segment_block`` writes events as (kind, start_frame, end_frame) triples.
SEG_CONFIRMED = 1
SEG_CLOSED = 2


def new_leg_state() -> array[int]:
    """Return a zeroed leg state whose P.56 memory is 'never above any threshold'."""
    st = array("q", bytes(8 * LEG_STATE_LEN))
    for k in range(P56_LEVELS + 1):
        st[LS_LAST_GE + k] = _NEVER
    st[LS_TALK_CDB] = LEVEL_FLOOR_CDB
    return st


def new_segment_state() -> array[int]:
    """Return a segment state with no open run."""
    st = array("q", bytes(8 * SEG_STATE_LEN))
    st[SS_START] = -1
    return st


def _ulaw_sample(byte: int) -> int:
    u = ~byte & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return (0x84 - t) if u & 0x80 else (t - 0x84)


def _alaw_sample(byte: int) -> int:
    a = byte ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


ULAW_TABLE: tuple[int, ...] = tuple(_ulaw_sample(b) for b in range(256))
ALAW_TABLE: tuple[int, ...] = tuple(_alaw_sample(b) for b in range(256))


def ulaw_decode(data: BytesLike) -> bytes:
    """Decode G.711 µ-law bytes to int16 LE PCM (ITU-T G.711 table 2; max magnitude 32124)."""
    return array("h", [ULAW_TABLE[b] for b in memoryview(data).cast("B")]).tobytes()


def alaw_decode(data: BytesLike) -> bytes:
    """Decode G.711 A-law bytes to int16 LE PCM (ITU-T G.711 table 1; max magnitude 32256)."""
    return array("h", [ALAW_TABLE[b] for b in memoryview(data).cast("B")]).tobytes()


def _samples(pcm: BytesLike) -> memoryview:
    raw = memoryview(pcm).cast("B")
    return raw[: len(raw) & ~1].cast("h")


def frame_stats(pcm: BytesLike, clip_level: int) -> tuple[int, int, int]:
    """Return (sum of squares, peak |x|, samples with |x| >= clip_level) of one frame."""
    sumsq = peak = clipped = 0
    for x in _samples(pcm):
        ax = -x if x < 0 else x
        sumsq += x * x
        if ax > peak:
            peak = ax
        if ax >= clip_level:
            clipped += 1
    return sumsq, peak, clipped


def level_cdb(sumsq: int, n: int) -> int:
    """Return 20*log10(RMS/32768) in centi-dBov, floored, and -12000 for silence."""
    if sumsq == 0 or n <= 0:
        return LEVEL_FLOOR_CDB
    cdb = math.floor(1000.0 * math.log10(sumsq / n / 1073741824.0))
    return cdb if cdb > LEVEL_FLOOR_CDB else LEVEL_FLOOR_CDB


def tone_share_pct(x16: memoryview, start: int, frame_len: int) -> int:
    """The share (%) of the frame's energy in its two strongest TONE_FREQS_HZ (Goertzel, Q14
    integers). A tone covering the whole frame has 2|X(f)|^2 = N * sum(x^2)."""
    coefs = TONE_COEF_Q14_16K if frame_len == 320 else TONE_COEF_Q14_8K
    frame = x16[start:start + frame_len]
    energy: int = sum(map(operator.mul, frame, frame))
    if energy == 0:
        return 0
    best = second = 0
    for c in coefs:
        s1 = s2 = 0
        for n in range(start, start + frame_len):
            s0 = x16[n] + ((c * s1) >> 14) - s2
            s2 = s1
            s1 = s0
        power = s1 * s1 + s2 * s2 - ((c * s1) >> 14) * s2
        if power > best:
            second = best
            best = power
        elif power > second:
            second = power
    return 200 * (best + second) // (frame_len * energy)


def tonal(x16: memoryview, start: int, frame_len: int, gain_x100: int) -> bool:
    """Whether the frame at ``start`` is a steady tone: a linear predictor of order TONE_ORDER
    leaves at most 100/gain_x100 of its energy (the covariance method, which a sum of two
    sinusoids meets exactly but for quantisation; speech leaves far more), and either its
    energy is in known tones (``tone_share_pct``) or the prediction is near exact (40 dB:
    any steady tone on a linear line; a steady vowel reaches 20-30 dB, a µ-law tone 21-25).

    The normal equations are exact integers; their elimination (upper triangle, no pivoting,
    lags 1..4 first and lag 0 last, so that the last pivot is the prediction error) is plain
    double arithmetic in one fixed order, which C and Python round alike. The lag matrix is
    loaded by its lag-0 energy / 2**20 so that a single tone (rank 2) stays solvable.
    """
    p = TONE_ORDER
    end = start + frame_len
    # phi(0, j) = sum over n in [start + p, end) of x[n] x[n - j]
    head = x16[start + p:end]
    phi0 = [sum(map(operator.mul, head, x16[start + p - j:end - j])) for j in range(p + 1)]
    if phi0[0] <= 0:
        return False
    # phi(i, j) for 1 <= i <= j: phi(i - 1, j - 1) + x[p - i] x[p - j] - x[N - i] x[N - j].
    phi = [[0] * (p + 1) for _ in range(p + 1)]
    for j in range(p + 1):
        phi[0][j] = phi0[j]
    for i in range(1, p + 1):
        for j in range(i, p + 1):
            phi[i][j] = (phi[i - 1][j - 1] + x16[start + p - i] * x16[start + p - j]
                         - x16[end - i] * x16[end - j])
    load = (phi0[0] >> 20) + 1
    # The symmetric matrix in the order lags 1..p, then 0: a[r][c] for r <= c.
    a = [[0.0] * (p + 1) for _ in range(p + 1)]
    for r in range(p):
        for c in range(r, p):
            a[r][c] = float(phi[r + 1][c + 1] + (load if r == c else 0))
        a[r][p] = float(phi[0][r + 1])
    a[p][p] = float(phi0[0])
    for k in range(p):
        piv = a[k][k]
        if piv <= 0.0:
            return False
        for r in range(k + 1, p + 1):
            f = a[k][r] / piv
            for c in range(r, p + 1):
                a[r][c] = a[r][c] - f * a[k][c]
    if a[p][p] * (gain_x100 / 100.0) > float(phi0[0]):
        return False
    if a[p][p] * (TONE_PURE_GAIN_X100 / 100.0) <= float(phi0[0]):
        return True
    return tone_share_pct(x16, start, frame_len) >= TONE_SHARE_PCT


def _speech_gates(x16: memoryview, start: int, frame_len: int, lvl: int, gate: int,
                  st: array[int]) -> int:
    """The gate value (GATE_*) of a frame the noise floor passed (``gate``) or not.

    Tone: LS_TONE_MIN_RUN tonal frames in a row (``tonal``), and the LS_TONE_HANG_FRAMES frames
    after each such frame (the onset and decay of the next DTMF digit, which a 20 ms frame cuts).
    Babble: LS_BABBLE_MARGIN_CDB or more below the talker level, a peak follower of the frames
    that pass (it falls LS_TALK_DECAY_CDB per passing frame, so it holds through silences).
    """
    tone = False
    if gate and st[LS_TONE_GAIN_X100] > 0 and tonal(x16, start, frame_len,
                                                    st[LS_TONE_GAIN_X100]):
        st[LS_TONE_RUN] += 1
    else:
        st[LS_TONE_RUN] = 0
    if st[LS_TONE_RUN] >= st[LS_TONE_MIN_RUN] > 0:
        st[LS_TONE_HANG_LEFT] = st[LS_TONE_HANG_FRAMES]
        tone = True
    elif st[LS_TONE_HANG_LEFT] > 0:
        st[LS_TONE_HANG_LEFT] -= 1
        tone = True
    if not gate:
        return GATE_NOISE
    if tone:
        return GATE_TONE
    talk = st[LS_TALK_CDB]
    if st[LS_BABBLE_MARGIN_CDB] > 0 and lvl <= talk - st[LS_BABBLE_MARGIN_CDB]:
        return GATE_BABBLE
    sure = (st[LS_SURE_FLOOR_CDB] > 0 and talk > LEVEL_FLOOR_CDB
            and lvl >= st[LS_FLOOR_CDB] + st[LS_SURE_FLOOR_CDB]
            and lvl >= talk - st[LS_SURE_TALK_CDB])
    if talk <= LEVEL_FLOOR_CDB:  # the first passing frame: the talker level starts there
        talk = lvl
    else:  # it falls slowly, and rises a quarter of the way per louder frame (not to a click)
        talk -= st[LS_TALK_DECAY_CDB]
        if lvl > talk:
            talk += (lvl - talk) >> 2
    st[LS_TALK_CDB] = talk
    return GATE_SURE if sure else GATE_PASS


def leg_block(pcm: BytesLike, frame_len: int, st: array[int], out: array[int],
              cand: array[int]) -> int:
    """Run whole frames of one leg through stats, P.56, floor and gate; return the candidates.

    Writes FRAME_OUT_STRIDE values per frame to ``out`` (level_cdb, peak, clipped, gate) and
    the indices of frames that pass the noise gate to ``cand``; returns their count.
    The P.56 envelope is ITU-T P.56 method B as in G.191 sv-p56 (two first-order stages of
    time constant 0.03 s on |x|, a hang-over per threshold, counts of active samples), in
    Q12 fixed point, advanced one step of 2**LS_ENV_SHIFT samples (0.5 ms) at a time on the
    step's mean |x|: 60 times shorter than the time constant, it moves levels by < 0.05 dB.
    ``LS_HIST_ALL + k`` counts the samples whose highest active threshold was c_k = 2**(k-1);
    """
    x16 = _samples(pcm)
    shift = st[LS_ENV_SHIFT] if len(st) >= LEG_STATE_LEN else -1
    step = 1 << shift if 0 <= shift <= 8 else 0
    if not step or frame_len <= 0 or frame_len % step:
        raise ValueError("leg state too short or bad frame length")
    n_frames = len(x16) // frame_len
    if len(out) < n_frames * FRAME_OUT_STRIDE or len(cand) < n_frames:
        raise ValueError("output buffers too short for the block")
    clip_level = st[LS_CLIP_LEVEL]
    env_k = st[LS_ENV_K]
    hang = st[LS_HANG_SAMPLES]
    p = st[LS_ENV_P]
    q = st[LS_ENV_Q]
    run = st[LS_CLIP_RUN]
    n = st[LS_SAMPLE_N]
    bits = st[LS_BITS]
    active = st[LS_ACTIVE_BITS]
    if not (0 <= bits <= P56_LEVELS and 0 <= active <= P56_LEVELS):
        raise ValueError("corrupt leg state")
    n_cand = 0
    for f in range(n_frames):
        sumsq = peak = clipped = events = 0
        for i in range(f * frame_len, (f + 1) * frame_len):
            x = x16[i]
            ax = -x if x < 0 else x
            sumsq += x * x
            if ax > peak:
                peak = ax
            if ax >= clip_level:
                clipped += 1
                run += 1
                if run == 3:
                    events += 1
            else:
                run = 0
        fh = [0] * (P56_LEVELS + 1)
        for s0 in range(f * frame_len, (f + 1) * frame_len, step):
            a = 0
            for i in range(s0, s0 + step):
                a += abs(x16[i])
            p += ((a << (12 - shift)) - p) * env_k >> 20
            q += (p - q) * env_k >> 20
            qi = q >> 12
            if bits < P56_LEVELS and qi >= 1 << bits:
                while bits < P56_LEVELS and qi >= 1 << bits:
                    bits += 1
            elif bits and qi < 1 << (bits - 1):
                drop_from = bits
                while bits > 0 and qi < 1 << (bits - 1):
                    bits -= 1
                for k in range(bits + 1, drop_from + 1):
                    st[LS_LAST_GE + k] = n - step
            if bits >= active:
                active = bits
            else:
                while active > bits and n - st[LS_LAST_GE + active] > hang:
                    active -= 1
            fh[active] += step
            n += step
        lvl = level_cdb(sumsq, frame_len)
        if lvl > FLOOR_SILENCE_CDB and not st[LS_FLOOR_SET]:
            st[LS_FLOOR_CDB] = min(lvl, st[LS_FLOOR_INIT_CDB])
            st[LS_FLOOR_SET] = 1
        floor = st[LS_FLOOR_CDB]
        gate = 1 if (lvl > st[LS_GATE_ABS_CDB] and st[LS_FLOOR_SET]
                     and lvl > floor + st[LS_GATE_MARGIN_CDB]) else 0
        if lvl > FLOOR_SILENCE_CDB:  # digital silence is no line noise: it leaves the floor
            if lvl < floor:
                floor = lvl
            else:
                floor += st[LS_FLOOR_RISE_CDB]
                if floor > lvl:
                    floor = lvl
            st[LS_FLOOR_CDB] = floor
        for k in range(P56_LEVELS + 1):
            st[LS_HIST_ALL + k] += fh[k]
        st[LS_SUMSQ] += sumsq
        st[LS_CLIPPED] += clipped
        st[LS_CLIP_EVENTS] += events
        code = _speech_gates(x16, f * frame_len, frame_len, lvl, gate, st)
        o = f * FRAME_OUT_STRIDE
        out[o] = lvl
        out[o + 1] = peak
        out[o + 2] = clipped
        out[o + 3] = code
        if code == GATE_PASS or code == GATE_SURE:
            cand[n_cand] = f if code == GATE_PASS else ~f
            n_cand += 1
    st[LS_ENV_P] = p
    st[LS_ENV_Q] = q
    st[LS_CLIP_RUN] = run
    st[LS_SAMPLE_N] = n
    st[LS_BITS] = bits
    st[LS_ACTIVE_BITS] = active
    return n_cand


def new_echo_state(window: int, margin_cdb: int) -> array[int]:
    """Return an echo_gate state whose history is digital silence."""
    if not 0 <= window <= EG_MAX_WINDOW:
        raise ValueError(f"echo window must be 0..{EG_MAX_WINDOW} frames")
    st = array("q", [LEVEL_FLOOR_CDB] * ECHO_STATE_LEN)
    st[EG_WINDOW] = window
    st[EG_MARGIN_CDB] = margin_cdb
    st[EG_LOSS_CDB] = EG_LOSS_START_CDB
    st[EG_SEEN] = 0
    return st


def echo_gate(out: array[int], other: array[int], n_frames: int, es: array[int],
              cand: array[int], n_cand: int) -> int:
    """Drop the candidates that may be echo of the other leg; return how many are left.

    ``out`` and ``other`` are the two legs' ``leg_block`` outputs for the same ``n_frames``
    frames (call time). A frame's *drop* is the other leg's loudest level among f - EG_WINDOW
    .. f minus the frame's own level. Candidate frame f is echo (gate value GATE_ECHO) when
    its drop is at least EG_MARGIN_CDB and, once the estimate has warmed up, at least this
    leg's echo loss minus EG_TOLERANCE_CDB. The echo loss is tracked over every frame while
    the other leg talks: a line whose echo is 22 dB down settles near 22 dB, so its echo goes;
    a line with no echo settles at its noise (or digital silence) under the other talker, so a
    quiet talker who speaks over a loud one is not taken for echo. ``es`` carries the other
    leg's last levels and the estimate from block to block; ``cand`` (ascending frames) is
    compacted in place.
    """
    window = es[EG_WINDOW] if len(es) >= ECHO_STATE_LEN else -1
    if not 0 <= window <= EG_MAX_WINDOW:
        raise ValueError("corrupt echo state")
    if (n_frames < 0 or len(out) < n_frames * FRAME_OUT_STRIDE
            or len(other) < n_frames * FRAME_OUT_STRIDE or not 0 <= n_cand <= len(cand)):
        raise ValueError("echo gate buffers too short for the block")
    margin = es[EG_MARGIN_CDB]
    loss, seen = es[EG_LOSS_CDB], es[EG_SEEN]
    kept = j = 0
    for f in range(n_frames):
        loudest = LEVEL_FLOOR_CDB
        for k in range(f - window, f + 1):
            v = other[k * FRAME_OUT_STRIDE] if k >= 0 else es[EG_LEVELS + window + k]
            if v > loudest:
                loudest = v
        drop = loudest - out[f * FRAME_OUT_STRIDE]
        if j < n_cand:
            c = cand[j]
            if (c if c >= 0 else ~c) == f:
                j += 1
                if margin > 0 and drop >= margin and (
                        seen < EG_WARMUP_FRAMES or drop >= loss - EG_TOLERANCE_CDB):
                    out[f * FRAME_OUT_STRIDE + 3] = GATE_ECHO
                else:
                    cand[kept] = c
                    kept += 1
        if loudest >= EG_ACTIVE_CDB:
            if seen == 0:
                loss = min(drop, EG_LOSS_START_CDB)
            elif drop > loss:
                loss += EG_LOSS_UP_CDB if seen >= EG_WARMUP_FRAMES else EG_WARMUP_UP_CDB
            elif drop < loss:
                loss -= EG_LOSS_DOWN_CDB if seen >= EG_WARMUP_FRAMES else EG_WARMUP_DOWN_CDB
            if seen < EG_WARMUP_FRAMES:
                seen += 1
    if j != n_cand:
        raise ValueError("candidate outside the block or out of order")
    es[EG_LOSS_CDB], es[EG_SEEN] = loss, seen
    # The history: the last `window` levels of (history, this block).
    for i in range(window):
        k = n_frames - window + i
        es[EG_LEVELS + i] = (other[k * FRAME_OUT_STRIDE] if k >= 0
                             else es[EG_LEVELS + window + k])
    return kept


def vad_frames(classify: Callable[[object, int, BytesLike, int], object], handle: object,
               rate: int, pcm: BytesLike, frame_len: int, cand: array[int], n_cand: int,
               speech: bytearray) -> int:
    """Ask ``classify(handle, rate, frame, frame_len)`` about each candidate frame.

    Sets ``speech[i] = 1`` for the candidates it calls speech and returns their count; this
    is the loop around webrtcvad's ``process`` that the gate leaves to run. A candidate
    given as ``~i`` (GATE_SURE) is speech without asking.
    """
    fb = 2 * frame_len
    raw = memoryview(pcm).cast("B")
    if n_cand > len(cand) or n_cand < 0:
        raise ValueError("candidate outside the block")
    found = 0
    for j in range(n_cand):
        i = cand[j]
        sure = i < 0
        if sure:
            i = ~i
        if i >= len(speech) or (i + 1) * fb > len(raw):
            raise ValueError("candidate outside the block")
        if sure or classify(handle, rate, raw[i * fb:(i + 1) * fb], frame_len):
            speech[i] = 1
            found += 1
    return found


def segment_block(speech: BytesLike, st: array[int], events: array[int]) -> int:
    """Turn per-frame speech flags (one byte each) into segment events; return how many.

    A run of speech frames, padded by SS_PAD_FRAMES on each side, is bridged over padded
    gaps shorter than SS_BRIDGE_FRAMES, kept once its speech spans SS_MIN_FRAMES (a
    SEG_CONFIRMED event with its padded start), and closed when a padded gap reaches the
    bridge (a SEG_CLOSED event with [start, end) frames, end trimmed by SS_END_TRIM_FRAMES).
    """
    flags = memoryview(speech).cast("B")
    if len(st) < SEG_STATE_LEN:
        raise ValueError("segment state too short")
    if len(events) < 3 * len(flags):
        raise ValueError("event buffer too short for the block")
    pad = st[SS_PAD_FRAMES]
    close_gap = st[SS_BRIDGE_FRAMES] + 2 * pad
    min_frames = st[SS_MIN_FRAMES]
    tail = pad - st[SS_END_TRIM_FRAMES]
    k = st[SS_FRAME_N]
    start = st[SS_START]
    last = st[SS_LAST]
    confirmed = st[SS_CONFIRMED]
    n_ev = 0
    for flag in flags:
        if flag:
            if start < 0:
                start = k
                confirmed = 0
            last = k
            if not confirmed and last + 1 - start >= min_frames:
                confirmed = 1
                events[n_ev] = SEG_CONFIRMED
                events[n_ev + 1] = start - pad if start > pad else 0
                events[n_ev + 2] = 0
                n_ev += 3
        elif start >= 0 and k - last >= close_gap:
            if confirmed:
                events[n_ev] = SEG_CLOSED
                events[n_ev + 1] = start - pad if start > pad else 0
                events[n_ev + 2] = last + 1 + tail
                n_ev += 3
            start = -1
            confirmed = 0
        k += 1
    st[SS_FRAME_N] = k
    st[SS_START] = start
    st[SS_LAST] = last
    st[SS_CONFIRMED] = confirmed
    return n_ev // 3


#: ``g711_match`` bits: each stands for a G.711 law whose decode table holds every sample.
G711_ULAW = 1
G711_ALAW = 2
_G711_SETS = ((G711_ULAW, frozenset(ULAW_TABLE)), (G711_ALAW, frozenset(ALAW_TABLE)))


def g711_match(pcm: BytesLike, mask: int) -> tuple[int, int]:
    """Return (the bits of ``mask`` whose G.711 table holds every nonzero sample, nonzero samples),
    or (0, 0) as soon as no bit is left (the rest of the block is not read)."""
    found = _g711_match(pcm, mask)
    return found if found[0] else (0, 0)


def _g711_match(pcm: BytesLike, mask: int) -> tuple[int, int]:
    """g711_match, counting to the end.

    A µ-law or A-law call delivered as linear PCM (a tap's slin, a phone's or MixMonitor's
    PCM16 recording) holds only the 256 values of its decode table; zero is left out, as it
    proves nothing (a tap's or a recorder's silence is zero in both laws).
    """
    nonzero = 0
    for x in _samples(pcm):
        if not mask:
            break
        if x:
            nonzero += 1
            for bit, values in _G711_SETS:
                if mask & bit and x not in values:
                    mask &= ~bit
    return mask, nonzero


def frame_prefix(pcm: BytesLike, frame_len: int, base: int, prefix: array[int]) -> int:
    """Write running sums of the frames' energy: prefix[i] = base + sumsq of frames 0..i-1.

    Writes n + 1 values for the block's n whole frames and returns n (the speech level's
    energy over any run of frames is then a difference of two prefixes).
    """
    x16 = _samples(pcm)
    if frame_len <= 0:
        raise ValueError("bad frame length")
    n_frames = len(x16) // frame_len
    if len(prefix) < n_frames + 1:
        raise ValueError("prefix buffer too short for the block")
    total = base
    prefix[0] = total
    for f in range(n_frames):
        for i in range(f * frame_len, (f + 1) * frame_len):
            total += x16[i] * x16[i]
        prefix[f + 1] = total
    return n_frames
