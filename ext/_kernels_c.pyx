# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled metric kernels; edgeqa/metrics/reference.py is their specification.

Same signatures and bit-identical results as the reference (integer state; the one float,
log10 of an exact mean square, comes from the same libm). PCM is int16 in host order
(little-endian on every platform edgeqa targets).
"""

cimport cython
from cpython cimport array
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.object cimport Py_SIZE
from libc.math cimport floor as c_floor, log10
from libc.stdint cimport int16_t, int64_t, uint16_t, uint32_t
from libc.string cimport memcpy

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
cdef enum: LS_FLOOR_INIT_CDB = 51
cdef enum: LS_ENV_SHIFT = 52
cdef enum: LS_HIST_ALL = 56
cdef enum: LS_TALK_CDB = 73
cdef enum: LS_BABBLE_MARGIN_CDB = 74
cdef enum: LS_TALK_DECAY_CDB = 75
cdef enum: LS_TONE_GAIN_X100 = 76
cdef enum: LS_TONE_RUN = 77
cdef enum: LS_TONE_HANG_FRAMES = 78
cdef enum: LS_TONE_HANG_LEFT = 79
cdef enum: LS_TONE_MIN_RUN = 80
cdef enum: LS_SURE_FLOOR_CDB = 81
cdef enum: LS_SURE_TALK_CDB = 82
cdef enum: LEG_STATE_LEN = 83
cdef enum: P56_LEVELS = 16
cdef enum: FRAME_OUT_STRIDE = 4
cdef enum: LEVEL_FLOOR_CDB = -12000
cdef enum: FLOOR_SILENCE_CDB = -7000
cdef enum: GATE_NOISE = 0
cdef enum: GATE_PASS = 1
cdef enum: GATE_TONE = 2
cdef enum: GATE_BABBLE = 3
cdef enum: GATE_ECHO = 4
cdef enum: GATE_SURE = 5
cdef enum: TONE_ORDER = 4
cdef enum: TONE_N_FREQS = 15
cdef enum: TONE_SHARE_PCT = 90
cdef double TONE_PURE_GAIN_X100 = 1000000.0
cdef int64_t TONE_COEF_Q14_8K[TONE_N_FREQS]
cdef int64_t TONE_COEF_Q14_16K[TONE_N_FREQS]
TONE_COEF_Q14_8K[:] = [27980, 26956, 25701, 24219, 19073, 16325, 13085, 9315, 31538, 30831,
                       30467, 28959, 24685, 15547, 5717]
TONE_COEF_Q14_16K[:] = [31548, 31281, 30951, 30556, 29144, 28361, 27409, 26258, 32459, 32280,
                        32188, 31802, 30681, 28135, 25111]

cdef enum: EG_WINDOW = 0
cdef enum: EG_MARGIN_CDB = 1
cdef enum: EG_LEVELS = 2
cdef enum: EG_MAX_WINDOW = 50
cdef enum: EG_LOSS_CDB = 52
cdef enum: EG_SEEN = 53
cdef enum: ECHO_STATE_LEN = 54
cdef enum: EG_ACTIVE_CDB = -4000
cdef enum: EG_WARMUP_FRAMES = 50
cdef enum: EG_LOSS_START_CDB = 4000
cdef enum: EG_WARMUP_UP_CDB = 11
cdef enum: EG_WARMUP_DOWN_CDB = 100
cdef enum: EG_LOSS_UP_CDB = 1
cdef enum: EG_LOSS_DOWN_CDB = 9
cdef enum: EG_TOLERANCE_CDB = 800

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
# Two samples per look-up: entry v holds, in host order, the samples of the two bytes whose
# memory image is v. Half the loads of a byte table (decoding is load-bound), 256 KiB each.
cdef uint32_t ULAW2[65536]
cdef uint32_t ALAW2[65536]
# g711_match: bit G711_ULAW / G711_ALAW of entry v (a sample's uint16 image) says v is a value
# of that law's decode table.
cdef enum: G711_ULAW = 1
cdef enum: G711_ALAW = 2
cdef unsigned char G711_BITS[65536]


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


cdef void _fill_tables() noexcept:
    cdef int b
    cdef uint32_t v
    cdef uint16_t idx
    cdef unsigned char pair_b[2]
    cdef int16_t pair_s[2]
    for b in range(256):
        ULAW[b] = _ulaw_sample(b)
        ALAW[b] = _alaw_sample(b)
    for b in range(256):
        G711_BITS[<uint16_t>ULAW[b]] |= G711_ULAW
        G711_BITS[<uint16_t>ALAW[b]] |= G711_ALAW
    G711_BITS[0] = G711_ULAW | G711_ALAW  # zero proves nothing (reference.g711_match)
    for v in range(65536):
        pair_b[0] = <unsigned char>(v & 0xFF)
        pair_b[1] = <unsigned char>(v >> 8)
        memcpy(&idx, pair_b, 2)
        pair_s[0] = ULAW[pair_b[0]]
        pair_s[1] = ULAW[pair_b[1]]
        memcpy(&ULAW2[idx], pair_s, 4)
        pair_s[0] = ALAW[pair_b[0]]
        pair_s[1] = ALAW[pair_b[1]]
        memcpy(&ALAW2[idx], pair_s, 4)


_fill_tables()


cdef inline void _decode_into(const unsigned char* src, Py_ssize_t n, const int16_t* table,
                              const uint32_t* table2, int16_t* dst) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef uint16_t v
    cdef uint32_t w
    while i + 1 < n:
        memcpy(&v, src + i, 2)
        w = table2[v]
        memcpy(dst + i, &w, 4)
        i += 2
    if i < n:
        dst[i] = table[src[i]]


cdef bytes _decode(object data, const int16_t* table, const uint32_t* table2):
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef bytes out
    if PyBytes_CheckExact(data):  # the common case: no buffer protocol round trip
        n = PyBytes_GET_SIZE(data)
        out = PyBytes_FromStringAndSize(NULL, 2 * n)
        _decode_into(<const unsigned char*>PyBytes_AS_STRING(data), n, table, table2,
                     <int16_t*>PyBytes_AS_STRING(out))
        return out
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        out = PyBytes_FromStringAndSize(NULL, 2 * view.len)
        _decode_into(<const unsigned char*>view.buf, view.len, table, table2,
                     <int16_t*>PyBytes_AS_STRING(out))
        return out
    finally:
        PyBuffer_Release(&view)


# A plain builtin taking one argument (METH_O): a cyfunction with keyword support costs
# more to call than decoding a 20 ms frame.
@cython.binding(False)
@cython.always_allow_keywords(False)
def ulaw_decode(data):
    """Decode G.711 µ-law bytes to int16 LE PCM (ITU-T G.711 table 2; max magnitude 32124)."""
    return _decode(data, ULAW, ULAW2)


@cython.binding(False)
@cython.always_allow_keywords(False)
def alaw_decode(data):
    """Decode G.711 A-law bytes to int16 LE PCM (ITU-T G.711 table 1; max magnitude 32256)."""
    return _decode(data, ALAW, ALAW2)


cdef long long* _int64s(array.array a, Py_ssize_t* n) except? NULL:  # empty: NULL, n 0
    if a.ob_descr.typecode != b'q':
        raise TypeError("state and output arrays must be array('q')")
    n[0] = Py_SIZE(a)
    return a.data.as_longlongs


cdef inline int64_t _abs16(int16_t v) noexcept:
    return -(<int64_t>v) if v < 0 else v


def frame_stats(pcm, long long clip_level):
    """Return (sum of squares, peak |x|, samples with |x| >= clip_level) of one frame."""
    cdef Py_buffer view
    cdef Py_ssize_t n, i
    cdef const int16_t* x
    cdef int64_t sumsq = 0
    cdef int ax, peak = 0, v
    cdef long long clipped = 0
    PyObject_GetBuffer(pcm, &view, PyBUF_SIMPLE)
    x = <const int16_t*>view.buf
    n = view.len // 2
    for i in range(n):
        v = x[i]
        ax = -v if v < 0 else v
        sumsq += v * v
        peak = ax if ax > peak else peak
        clipped += ax >= clip_level
    PyBuffer_Release(&view)
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


cdef int64_t _tone_share_pct(const int16_t* x, Py_ssize_t frame_len) noexcept:
    """reference.tone_share_pct (the same Q14 integer Goertzel)."""
    cdef const int64_t* coefs = &TONE_COEF_Q14_8K[0]
    if frame_len == 320:
        coefs = &TONE_COEF_Q14_16K[0]
    cdef int64_t energy = 0, best = 0, second = 0, c, s0, s1, s2, power
    cdef Py_ssize_t n, k
    for n in range(frame_len):
        energy += <int64_t>x[n] * x[n]
    if energy == 0:
        return 0
    for k in range(TONE_N_FREQS):
        c = coefs[k]
        s1 = 0
        s2 = 0
        for n in range(frame_len):
            s0 = x[n] + ((c * s1) >> 14) - s2
            s2 = s1
            s1 = s0
        power = s1 * s1 + s2 * s2 - ((c * s1) >> 14) * s2
        if power > best:
            second = best
            best = power
        elif power > second:
            second = power
    return (200 * (best + second)) // (frame_len * energy)


cdef bint _tonal(const int16_t* x, Py_ssize_t frame_len, int64_t gain_x100) noexcept:
    """reference.tonal: the same integer normal equations and the same double elimination."""
    cdef int64_t phi[TONE_ORDER + 1][TONE_ORDER + 1]
    cdef double a[TONE_ORDER + 1][TONE_ORDER + 1]
    cdef int64_t load, s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0
    cdef int xn
    cdef Py_ssize_t n, i, j, k, r, c, p = TONE_ORDER
    cdef double piv, f
    for n in range(TONE_ORDER, frame_len):  # int16 products fit an int: a vectorisable loop
        xn = x[n]
        s0 += xn * x[n]
        s1 += xn * x[n - 1]
        s2 += xn * x[n - 2]
        s3 += xn * x[n - 3]
        s4 += xn * x[n - 4]
    phi[0][0] = s0
    phi[0][1] = s1
    phi[0][2] = s2
    phi[0][3] = s3
    phi[0][4] = s4
    if phi[0][0] <= 0:
        return False
    for i in range(1, p + 1):
        for j in range(i, p + 1):
            phi[i][j] = (phi[i - 1][j - 1] + <int64_t>x[p - i] * x[p - j]
                         - <int64_t>x[frame_len - i] * x[frame_len - j])
    load = (phi[0][0] >> 20) + 1
    for r in range(p):
        for c in range(r, p):
            a[r][c] = <double>(phi[r + 1][c + 1] + (load if r == c else 0))
        a[r][p] = <double>phi[0][r + 1]
    a[p][p] = <double>phi[0][0]
    for k in range(p):
        piv = a[k][k]
        if piv <= 0.0:
            return False
        for r in range(k + 1, p + 1):
            f = a[k][r] / piv
            for c in range(r, p + 1):
                a[r][c] = a[r][c] - f * a[k][c]
    if a[p][p] * (<double>gain_x100 / 100.0) > <double>phi[0][0]:
        return False
    if a[p][p] * (TONE_PURE_GAIN_X100 / 100.0) <= <double>phi[0][0]:
        return True
    return _tone_share_pct(x, frame_len) >= TONE_SHARE_PCT


cdef int _speech_gates(const int16_t* fx, Py_ssize_t frame_len, int64_t lvl, int gate,
                       long long* st) noexcept:
    """reference._speech_gates."""
    cdef bint tone = False
    cdef int64_t talk
    if gate and st[LS_TONE_GAIN_X100] > 0 and _tonal(fx, frame_len, st[LS_TONE_GAIN_X100]):
        st[LS_TONE_RUN] += 1
    else:
        st[LS_TONE_RUN] = 0
    if st[LS_TONE_MIN_RUN] > 0 and st[LS_TONE_RUN] >= st[LS_TONE_MIN_RUN]:
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
    cdef bint sure = (st[LS_SURE_FLOOR_CDB] > 0 and talk > LEVEL_FLOOR_CDB
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


def leg_block(pcm, Py_ssize_t frame_len, array.array st, array.array out, array.array cand):
    """Run whole frames of one leg through stats, P.56, floor and gate; return the candidates."""
    cdef Py_buffer view
    cdef Py_ssize_t st_len, out_len, cand_len
    cdef long long* st_p = _int64s(st, &st_len)
    cdef long long* out_p = _int64s(out, &out_len)
    cdef long long* cand_p = _int64s(cand, &cand_len)
    PyObject_GetBuffer(pcm, &view, PyBUF_SIMPLE)
    try:
        return _leg_block(<const int16_t*>view.buf, view.len // 2, frame_len, st_p, st_len,
                          out_p, out_len, cand_p, cand_len)
    finally:
        PyBuffer_Release(&view)


cdef Py_ssize_t _leg_block(const int16_t* x, Py_ssize_t n_samples, Py_ssize_t frame_len,
                           long long* st, Py_ssize_t st_len, long long* out, Py_ssize_t out_len,
                           long long* cand, Py_ssize_t cand_len) except -1:
    cdef Py_ssize_t f, i, n_frames, n_cand = 0, o
    cdef int64_t shift = st[LS_ENV_SHIFT] if st_len >= LEG_STATE_LEN else -1
    cdef int64_t step = (<int64_t>1 << shift) if 0 <= shift <= 8 else 0
    if not step or frame_len <= 0 or frame_len % step:
        raise ValueError("leg state too short or bad frame length")
    n_frames = n_samples // frame_len
    if out_len < n_frames * FRAME_OUT_STRIDE or cand_len < n_frames:
        raise ValueError("output buffers too short for the block")
    cdef int64_t clip_level = st[LS_CLIP_LEVEL], env_k = st[LS_ENV_K]
    cdef int64_t env_g = (1 << 20) - env_k
    cdef int64_t hang = st[LS_HANG_SAMPLES]
    cdef int64_t p = st[LS_ENV_P], q = st[LS_ENV_Q], run = st[LS_CLIP_RUN]
    cdef int64_t n = st[LS_SAMPLE_N], bits = st[LS_BITS], active = st[LS_ACTIVE_BITS]
    cdef int64_t sumsq, clipped, events, qi, floor_cdb, lvl, k, drop_from, count
    cdef int64_t hi, lo, expire, a
    cdef Py_ssize_t s0, si
    cdef int64_t total_sumsq = 0, total_clipped = 0, total_events = 0
    cdef int64_t fh[P56_LEVELS + 1]
    cdef int ax, v, peak, gate
    cdef const int16_t* fx
    if not (0 <= bits <= P56_LEVELS and 0 <= active <= P56_LEVELS):
        raise ValueError("corrupt leg state")
    cdef long long* last_ge = &st[LS_LAST_GE]
    cdef long long* hist_all = &st[LS_HIST_ALL]
    # Thresholds around the envelope: it is >= hi one level up, < lo one level down.
    hi = (<int64_t>1 << bits) if bits < P56_LEVELS else (<int64_t>1 << 62)
    lo = (<int64_t>1 << (bits - 1)) if bits > 0 else -1
    expire = last_ge[active] + hang if active > bits else (<int64_t>1 << 62)
    count = 0
    for k in range(P56_LEVELS + 1):
        fh[k] = 0
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
        # Pass 2: the P.56 envelope, one step at a time (the same recurrence as reference.py).
        for si in range(frame_len >> shift):  # a C loop (range with a variable step is not)
            s0 = si << shift
            if step == 4:
                a = _abs16(fx[s0]) + _abs16(fx[s0 + 1]) + _abs16(fx[s0 + 2]) + _abs16(fx[s0 + 3])
            elif step == 8:
                a = (_abs16(fx[s0]) + _abs16(fx[s0 + 1]) + _abs16(fx[s0 + 2])
                     + _abs16(fx[s0 + 3]) + _abs16(fx[s0 + 4]) + _abs16(fx[s0 + 5])
                     + _abs16(fx[s0 + 6]) + _abs16(fx[s0 + 7]))
            else:
                a = 0
                for i in range(s0, s0 + step):
                    a += _abs16(fx[i])
            p += ((a << (12 - shift)) - p) * env_k >> 20
            q += (p - q) * env_k >> 20
            qi = q >> 12
            if qi >= hi or qi < lo:
                fh[active] += count
                count = 0
                if qi >= hi:
                    while bits < P56_LEVELS and qi >= (<int64_t>1 << bits):
                        bits += 1
                else:
                    drop_from = bits
                    while bits > 0 and qi < (<int64_t>1 << (bits - 1)):
                        bits -= 1
                    for k in range(bits + 1, drop_from + 1):
                        last_ge[k] = n - step
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
                fh[active] += count
                count = 0
                while active > bits and n - last_ge[active] > hang:
                    active -= 1
                expire = last_ge[active] + hang if active > bits else (<int64_t>1 << 62)
            count += step
            n += step
        fh[active] += count
        count = 0
        lvl = _level_cdb(sumsq, frame_len)
        if lvl > FLOOR_SILENCE_CDB and not st[LS_FLOOR_SET]:
            st[LS_FLOOR_CDB] = lvl if lvl < st[LS_FLOOR_INIT_CDB] else st[LS_FLOOR_INIT_CDB]
            st[LS_FLOOR_SET] = 1
        floor_cdb = st[LS_FLOOR_CDB]
        gate = 1 if (lvl > st[LS_GATE_ABS_CDB] and st[LS_FLOOR_SET]
                     and lvl > floor_cdb + st[LS_GATE_MARGIN_CDB]) else 0
        if lvl > FLOOR_SILENCE_CDB:
            if lvl < floor_cdb:
                floor_cdb = lvl
            else:
                floor_cdb += st[LS_FLOOR_RISE_CDB]
                if floor_cdb > lvl:
                    floor_cdb = lvl
            st[LS_FLOOR_CDB] = floor_cdb
        # Only the levels the envelope visited in this frame are non-zero; all 17 are cheap.
        for k in range(P56_LEVELS + 1):
            hist_all[k] += fh[k]
            fh[k] = 0
        total_sumsq += sumsq
        total_clipped += clipped
        total_events += events
        gate = _speech_gates(fx, frame_len, lvl, gate, st)
        o = f * FRAME_OUT_STRIDE
        out[o] = lvl
        out[o + 1] = peak
        out[o + 2] = clipped
        out[o + 3] = gate
        if gate == GATE_PASS or gate == GATE_SURE:
            cand[n_cand] = f if gate == GATE_PASS else ~f
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


def vad_frames(classify, handle, int rate, pcm, Py_ssize_t frame_len, array.array cand,
               Py_ssize_t n_cand, bytearray speech):
    """Ask ``classify(handle, rate, frame, frame_len)`` about each candidate frame."""
    cdef Py_buffer view
    cdef Py_ssize_t cand_len, j, i, fb = 2 * frame_len, found = 0
    cdef long long* cand_p = _int64s(cand, &cand_len)
    cdef char* flags = speech
    cdef Py_ssize_t n_flags = len(speech)
    cdef const char* base
    cdef bint sure
    if n_cand > cand_len or n_cand < 0:
        raise ValueError("candidate outside the block")
    PyObject_GetBuffer(pcm, &view, PyBUF_SIMPLE)
    try:
        base = <const char*>view.buf
        for j in range(n_cand):
            i = cand_p[j]
            sure = i < 0
            if sure:
                i = ~i
            if i >= n_flags or (i + 1) * fb > view.len:
                raise ValueError("candidate outside the block")
            if sure or classify(handle, rate, PyBytes_FromStringAndSize(base + i * fb, fb),
                                frame_len):
                flags[i] = 1
                found += 1
        return found
    finally:
        PyBuffer_Release(&view)


def echo_gate(array.array out_a, array.array other_a, Py_ssize_t n_frames, array.array es_a,
              array.array cand_a, Py_ssize_t n_cand):
    """Drop the candidates that may be echo of the other leg; return how many are left."""
    cdef Py_ssize_t out_len, other_len, es_len, cand_len, j = 0, kept = 0, i, f
    cdef long long* out = _int64s(out_a, &out_len)
    cdef long long* other = _int64s(other_a, &other_len)
    cdef long long* es = _int64s(es_a, &es_len)
    cdef long long* cand = _int64s(cand_a, &cand_len)
    cdef int64_t window = es[EG_WINDOW] if es_len >= ECHO_STATE_LEN else -1
    cdef int64_t margin, loudest, v, k, c, drop, loss, seen
    if not 0 <= window <= EG_MAX_WINDOW:
        raise ValueError("corrupt echo state")
    if (n_frames < 0 or out_len < n_frames * FRAME_OUT_STRIDE
            or other_len < n_frames * FRAME_OUT_STRIDE or not 0 <= n_cand <= cand_len):
        raise ValueError("echo gate buffers too short for the block")
    margin = es[EG_MARGIN_CDB]
    loss = es[EG_LOSS_CDB]
    seen = es[EG_SEEN]
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
                loss = drop if drop < EG_LOSS_START_CDB else EG_LOSS_START_CDB
            elif drop > loss:
                loss += EG_LOSS_UP_CDB if seen >= EG_WARMUP_FRAMES else EG_WARMUP_UP_CDB
            elif drop < loss:
                loss -= EG_LOSS_DOWN_CDB if seen >= EG_WARMUP_FRAMES else EG_WARMUP_DOWN_CDB
            if seen < EG_WARMUP_FRAMES:
                seen += 1
    if j != n_cand:
        raise ValueError("candidate outside the block or out of order")
    es[EG_LOSS_CDB] = loss
    es[EG_SEEN] = seen
    for i in range(window):
        k = n_frames - window + i
        es[EG_LEVELS + i] = (other[k * FRAME_OUT_STRIDE] if k >= 0
                             else es[EG_LEVELS + window + k])
    return kept


def segment_block(speech, array.array st_a, array.array events_a):
    """Turn per-frame speech flags (one byte each) into segment events; return how many."""
    cdef Py_buffer view
    cdef Py_ssize_t st_len, ev_len
    cdef long long* st = _int64s(st_a, &st_len)
    cdef long long* events = _int64s(events_a, &ev_len)
    if st_len < SEG_STATE_LEN:
        raise ValueError("segment state too short")
    PyObject_GetBuffer(speech, &view, PyBUF_SIMPLE)
    try:
        if ev_len < 3 * view.len:
            raise ValueError("event buffer too short for the block")
        return _segment_block(<const unsigned char*>view.buf, view.len, st, events)
    finally:
        PyBuffer_Release(&view)


cdef Py_ssize_t _segment_block(const unsigned char* speech, Py_ssize_t n, long long* st,
                               long long* events) noexcept:
    cdef Py_ssize_t i, n_ev = 0
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


def g711_match(pcm, long long mask):
    """Return (the bits of ``mask`` whose G.711 table holds every nonzero sample, nonzero samples),
    or (0, 0) as soon as no bit is left."""
    cdef Py_buffer view
    cdef const int16_t* x
    cdef Py_ssize_t i, j, n, stop
    cdef long long nonzero = 0
    cdef unsigned char m = <unsigned char>(mask & (G711_ULAW | G711_ALAW))
    PyObject_GetBuffer(pcm, &view, PyBUF_SIMPLE)
    try:
        x = <const int16_t*>view.buf
        n = view.len // 2
        with nogil:  # no branch per sample: a table load, an and, a compare; a test per 64
            i = 0
            while i < n and m:
                stop = i + 64 if i + 64 < n else n
                for j in range(i, stop):
                    m &= G711_BITS[<uint16_t>x[j]]
                    nonzero += x[j] != 0
                i = stop
        if not m:
            return 0, 0
        return m, nonzero
    finally:
        PyBuffer_Release(&view)


def frame_prefix(pcm, Py_ssize_t frame_len, long long base, array.array prefix_a):
    """Write running sums of the frames' energy: prefix[i] = base + sumsq of frames 0..i-1."""
    cdef Py_buffer view
    cdef const int16_t* x
    cdef Py_ssize_t f, i, n_frames, p_len
    cdef long long* prefix = _int64s(prefix_a, &p_len)
    cdef int64_t total = base, v
    if frame_len <= 0:
        raise ValueError("bad frame length")
    PyObject_GetBuffer(pcm, &view, PyBUF_SIMPLE)
    try:
        n_frames = (view.len // 2) // frame_len
        if p_len < n_frames + 1:
            raise ValueError("prefix buffer too short for the block")
        x = <const int16_t*>view.buf
        with nogil:
            prefix[0] = total
            for f in range(n_frames):
                for i in range(f * frame_len, (f + 1) * frame_len):
                    v = x[i]
                    total += v * v
                prefix[f + 1] = total
        return n_frames
    finally:
        PyBuffer_Release(&view)
