# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled metric kernels; edgeqa/metrics/reference.py is their specification.

Same signatures and bit-identical results as the reference (integer state; the one float,
log10 of an exact mean square, comes from the same libm). PCM is int16 in host order
(little-endian on every platform edgeqa targets).
"""

from libc.math cimport floor as c_floor, log10
from libc.stdint cimport int16_t, int64_t

# Keep in step with reference.py (the parity tests check every slot).
cdef enum: LS_CLIP_LEVEL = 0
cdef enum: LS_ENV_K = 1
cdef enum: LS_HANG_SAMPLES = 2
cdef enum: LS_GATE_MARGIN_CDB = 3
cdef enum: LS_GATE_ABS_CDB = 4
cdef enum: LS_FLOOR_RISE_CDB = 5
cdef enum: LS_ENV_P = 6
cdef enum: LS_ENV_Q = 7
cdef enum: LS_CLIP_RUN = 8
cdef enum: LS_FLOOR_CDB = 9
cdef enum: LS_FLOOR_SET = 10
cdef enum: LS_SAMPLE_N = 11
cdef enum: LS_SUMSQ = 12
cdef enum: LS_CLIPPED = 13
cdef enum: LS_CLIP_EVENTS = 14
cdef enum: LS_BITS = 15
cdef enum: LS_ACTIVE_BITS = 16
cdef enum: LS_LAST_GE = 17
cdef enum: LS_HIST = 34
cdef enum: LEG_STATE_LEN = 51
cdef enum: P56_LEVELS = 16
cdef enum: FRAME_OUT_STRIDE = 4
cdef enum: LEVEL_FLOOR_CDB = -12000

cdef enum: SS_BRIDGE_FRAMES = 0
cdef enum: SS_MIN_FRAMES = 1
cdef enum: SS_END_TRIM_FRAMES = 2
cdef enum: SS_PAD_FRAMES = 3
cdef enum: SS_FRAME_N = 4
cdef enum: SS_START = 5
cdef enum: SS_LAST = 6
cdef enum: SS_CONFIRMED = 7
cdef enum: SEG_STATE_LEN = 8
cdef enum: SEG_CONFIRMED = 1
cdef enum: SEG_CLOSED = 2

cdef int16_t ULAW[256]
cdef int16_t ALAW[256]


cdef int16_t _ulaw_sample(int byte) noexcept:
    cdef int u = ~byte & 0xFF
    cdef int t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return <int16_t>((0x84 - t) if u & 0x80 else (t - 0x84))


cdef int16_t _alaw_sample(int byte) noexcept:
    cdef int a = byte ^ 0x55
    cdef int t = (a & 0x0F) << 4
    cdef int seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return <int16_t>(t if a & 0x80 else -t)


cdef int _b
for _b in range(256):
    ULAW[_b] = _ulaw_sample(_b)
    ALAW[_b] = _alaw_sample(_b)


cdef bytes _decode(const unsigned char[::1] data, const int16_t* table):
    cdef Py_ssize_t n = data.shape[0], i
    out = bytearray(2 * n)
    cdef unsigned char[::1] view = out
    cdef int16_t* dst
    if n:
        dst = <int16_t*>&view[0]
        for i in range(n):
            dst[i] = table[data[i]]
    return bytes(out)


def ulaw_decode(const unsigned char[::1] data):
    """Decode G.711 µ-law bytes to int16 LE PCM (ITU-T G.711 table 2; max magnitude 32124)."""
    return _decode(data, ULAW)


def alaw_decode(const unsigned char[::1] data):
    """Decode G.711 A-law bytes to int16 LE PCM (ITU-T G.711 table 1; max magnitude 32256)."""
    return _decode(data, ALAW)


cdef inline const int16_t* _pcm(const unsigned char[::1] pcm, Py_ssize_t* n) noexcept:
    n[0] = pcm.shape[0] // 2
    if n[0] == 0:
        return NULL
    return <const int16_t*>&pcm[0]


def frame_stats(const unsigned char[::1] pcm, long long clip_level):
    """Return (sum of squares, peak |x|, samples with |x| >= clip_level) of one frame."""
    cdef Py_ssize_t n, i
    cdef const int16_t* x = _pcm(pcm, &n)
    cdef int64_t sumsq = 0
    cdef int ax, peak = 0, v
    cdef long long clipped = 0
    for i in range(n):
        v = x[i]
        ax = -v if v < 0 else v
        sumsq += v * v
        if ax > peak:
            peak = ax
        if ax >= clip_level:
            clipped += 1
    return sumsq, peak, clipped


cdef inline long long _level_cdb(int64_t sumsq, Py_ssize_t n) noexcept:
    cdef long long cdb
    if sumsq == 0 or n <= 0:
        return LEVEL_FLOOR_CDB
    cdb = <long long>c_floor(1000.0 * log10(<double>sumsq / <double>n / 1073741824.0))
    return cdb if cdb > LEVEL_FLOOR_CDB else LEVEL_FLOOR_CDB


def level_cdb(long long sumsq, Py_ssize_t n):
    """Return 20*log10(RMS/32768) in centi-dBov, floored, and -12000 for silence."""
    return _level_cdb(sumsq, n)


def leg_block(const unsigned char[::1] pcm, Py_ssize_t frame_len, long long[::1] st,
              long long[::1] out, long long[::1] cand):
    """Run whole frames of one leg through stats, P.56, floor and gate; return the candidates."""
    cdef Py_ssize_t n_samples, f, i, n_frames, n_cand = 0, o
    cdef const int16_t* x = _pcm(pcm, &n_samples)
    if st.shape[0] < LEG_STATE_LEN or frame_len <= 0:
        raise ValueError("leg state too short or bad frame length")
    n_frames = n_samples // frame_len
    if out.shape[0] < n_frames * FRAME_OUT_STRIDE or cand.shape[0] < n_frames:
        raise ValueError("output buffers too short for the block")
    cdef int64_t clip_level = st[LS_CLIP_LEVEL], env_k = st[LS_ENV_K]
    cdef int64_t env_g = (1 << 20) - env_k
    cdef int64_t hang = st[LS_HANG_SAMPLES]
    cdef int64_t p = st[LS_ENV_P], q = st[LS_ENV_Q], run = st[LS_CLIP_RUN]
    cdef int64_t n = st[LS_SAMPLE_N], bits = st[LS_BITS], active = st[LS_ACTIVE_BITS]
    cdef int64_t sumsq, clipped, events, qi, floor_cdb, lvl, k, drop_from, count
    cdef int64_t hi, lo, expire
    cdef int64_t total_sumsq = 0, total_clipped = 0, total_events = 0
    cdef int ax, v, peak, gate
    cdef const int16_t* fx
    cdef long long* last_ge = &st[LS_LAST_GE]
    cdef long long* hist = &st[LS_HIST]
    # Thresholds around the envelope: it is >= hi one level up, < lo one level down.
    hi = (<int64_t>1 << bits) if bits < P56_LEVELS else (<int64_t>1 << 62)
    lo = (<int64_t>1 << (bits - 1)) if bits > 0 else -1
    expire = last_ge[active] + hang if active > bits else (<int64_t>1 << 62)
    count = 0
    for f in range(n_frames):
        fx = x + f * frame_len
        sumsq = 0
        peak = 0
        clipped = 0
        events = 0
        # Pass 1: level, peak and clipping (no loop-carried state but sums: vectorisable).
        for i in range(frame_len):
            v = fx[i]
            ax = -v if v < 0 else v
            sumsq += v * v
            peak = ax if ax > peak else peak
            clipped += ax >= clip_level
        if clipped:
            for i in range(frame_len):
                v = fx[i]
                ax = -v if v < 0 else v
                if ax >= clip_level:
                    run += 1
                    if run == 3:
                        events += 1
                else:
                    run = 0
        else:
            run = 0
        # Pass 2: the P.56 envelope, sample by sample (the same recurrence as reference.py).
        for i in range(frame_len):
            v = fx[i]
            ax = -v if v < 0 else v
            p += ((<int64_t>ax << 12) - p) * env_k >> 20
            q += (p - q) * env_k >> 20
            qi = q >> 12
            if qi >= hi or qi < lo:
                hist[active] += count
                count = 0
                if qi >= hi:
                    while bits < P56_LEVELS and qi >= (<int64_t>1 << bits):
                        bits += 1
                else:
                    drop_from = bits
                    while bits > 0 and qi < (<int64_t>1 << (bits - 1)):
                        bits -= 1
                    for k in range(bits + 1, drop_from + 1):
                        last_ge[k] = n - 1
                hi = (<int64_t>1 << bits) if bits < P56_LEVELS else (<int64_t>1 << 62)
                lo = (<int64_t>1 << (bits - 1)) if bits > 0 else -1
                if bits >= active:
                    active = bits
                    expire = <int64_t>1 << 62
                else:
                    while active > bits and n - last_ge[active] > hang:
                        active -= 1
                    expire = last_ge[active] + hang if active > bits else (<int64_t>1 << 62)
            elif n > expire:
                hist[active] += count
                count = 0
                while active > bits and n - last_ge[active] > hang:
                    active -= 1
                expire = last_ge[active] + hang if active > bits else (<int64_t>1 << 62)
            count += 1
            n += 1
        hist[active] += count
        count = 0
        lvl = _level_cdb(sumsq, frame_len)
        if not st[LS_FLOOR_SET]:
            st[LS_FLOOR_CDB] = lvl
            st[LS_FLOOR_SET] = 1
        floor_cdb = st[LS_FLOOR_CDB]
        gate = 1 if lvl > st[LS_GATE_ABS_CDB] and lvl > floor_cdb + st[LS_GATE_MARGIN_CDB] else 0
        if lvl < floor_cdb:
            floor_cdb = lvl
        else:
            floor_cdb += st[LS_FLOOR_RISE_CDB]
            if floor_cdb > lvl:
                floor_cdb = lvl
        st[LS_FLOOR_CDB] = floor_cdb
        total_sumsq += sumsq
        total_clipped += clipped
        total_events += events
        o = f * FRAME_OUT_STRIDE
        out[o] = lvl
        out[o + 1] = peak
        out[o + 2] = clipped
        out[o + 3] = gate
        if gate:
            cand[n_cand] = f
            n_cand += 1
    st[LS_SUMSQ] += total_sumsq
    st[LS_CLIPPED] += total_clipped
    st[LS_CLIP_EVENTS] += total_events
    st[LS_ENV_P] = p
    st[LS_ENV_Q] = q
    st[LS_CLIP_RUN] = run
    st[LS_SAMPLE_N] = n
    st[LS_BITS] = bits
    st[LS_ACTIVE_BITS] = active
    return n_cand


def segment_block(const unsigned char[::1] speech, long long[::1] st, long long[::1] events):
    """Turn per-frame speech flags (one byte each) into segment events; return how many."""
    if st.shape[0] < SEG_STATE_LEN:
        raise ValueError("segment state too short")
    cdef Py_ssize_t i, n = speech.shape[0], n_ev = 0
    if events.shape[0] < 3 * n:
        raise ValueError("event buffer too short for the block")
    cdef int64_t pad = st[SS_PAD_FRAMES]
    cdef int64_t close_gap = st[SS_BRIDGE_FRAMES] + 2 * pad, min_frames = st[SS_MIN_FRAMES]
    cdef int64_t tail = pad - st[SS_END_TRIM_FRAMES], k = st[SS_FRAME_N]
    cdef int64_t start = st[SS_START], last = st[SS_LAST], confirmed = st[SS_CONFIRMED]
    for i in range(n):
        if speech[i]:
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
