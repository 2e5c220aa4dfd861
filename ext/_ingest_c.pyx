# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled ingest engine: edgeqa.media.ingest.Ingest per packet in C, no Python object per packet.

Same contract and same results as the reference (edgeqa/media/ingest.py, which runs
edgeqa.media.timeline.LegStream per slot); tests/parity/test_ingest_parity.py holds them equal.
Each slot is a C struct: RTP stream state (SSRC, anchor, timestamp unwrap), the reorder buffer
(depth_packets + 1 raw payloads, searched linearly: the depth is a handful), and the placed
audio held until take() (int16 LE PCM, decoded as it is released, contiguous pieces merged).
Datagrams reach their slot through a 65,536-entry port table and a host check.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcmp, memcpy, memmove, memset
from libc.math cimport fabs, nearbyint
from libc.errno cimport errno

from edgeqa.media import ingest as _ref
from edgeqa.media.jitter import MAX_DEPTH_PACKETS, RESYNC_GAP_PACKETS
from edgeqa.media.rtp import MAX_DATAGRAM_BYTES
from edgeqa.media.timeline import (CODEC_PT, CODEC_RATE, FRAME_S, MAX_AHEAD_S, MAX_BEHIND_S,
                                   WIRE_CODECS, PlacedAudio)
from edgeqa.metrics import reference as _kernels_ref

IngestError = _ref.IngestError
_round = round  # Python's (correctly rounded, half-even): never C's round()
cdef uint8_t EMPTY[1]


cdef extern from "sys/uio.h":
    struct iovec:
        void *iov_base
        size_t iov_len

cdef extern from "sys/socket.h":
    ctypedef unsigned int socklen_t
    struct sockaddr_storage:
        unsigned short ss_family
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    int recvmmsg(int sockfd, mmsghdr *msgvec, unsigned int vlen, int flags, void *timeout) nogil
    int MSG_DONTWAIT
    int MSG_TRUNC
    int AF_INET
    int AF_INET6

cdef extern from "netinet/in.h":
    struct in_addr:
        uint32_t s_addr
    struct sockaddr_in:
        unsigned short sin_family
        uint16_t sin_port
        in_addr sin_addr
    struct in6_addr:
        uint8_t s6_addr[16]
    struct sockaddr_in6:
        unsigned short sin6_family
        uint16_t sin6_port
        in6_addr sin6_addr

cdef extern from "arpa/inet.h":
    uint16_t ntohs(uint16_t) nogil

cdef extern from "linux/if_packet.h":
    struct tpacket_hdr_v1:
        uint32_t block_status
        uint32_t num_pkts
        uint32_t offset_to_first_pkt
        uint32_t blk_len
    union tpacket_bd_header_u:
        tpacket_hdr_v1 bh1
    struct tpacket_block_desc:
        uint32_t version
        uint32_t offset_to_priv
        tpacket_bd_header_u hdr
    struct tpacket3_hdr:
        uint32_t tp_next_offset
        uint32_t tp_sec
        uint32_t tp_nsec
        uint32_t tp_snaplen
        uint16_t tp_mac
        uint16_t tp_net


# --- limits (the reference's, so both hold the same) -------------------------------------------
DEF MAX_PAYLOAD = 1488          # MAX_DATAGRAM_BYTES - the 12-byte RTP header
DEF RECV_BATCH = 64             # datagrams per recvmmsg call
DEF SEQ_MOD = 65536
DEF TS_MOD = 4294967296

cdef int MAX_DGRAM = MAX_DATAGRAM_BYTES
cdef int64_t RESYNC = RESYNC_GAP_PACKETS
cdef double FRAME = FRAME_S
cdef double AHEAD = MAX_AHEAD_S
cdef double BEHIND = MAX_BEHIND_S
cdef double HELD_S = _ref.MAX_HELD_S
cdef int MAX_PIECES = _ref.MAX_HELD_PIECES
cdef double CONTIGUOUS = _ref.CONTIGUOUS_S
cdef int BLOCK_DESC = _ref.BLOCK_DESC_BYTES
cdef int FRAME_HDR = _ref.FRAME_HEADER_BYTES
cdef double FRAME_AGE = _ref.MAX_FRAME_AGE_S

# Engine counters (ENGINE_COUNTERS order)
DEF C_DATAGRAMS = 0
DEF C_ROUTED = 1
DEF C_UNROUTED = 2
DEF C_MALFORMED = 3
DEF C_TOO_LARGE = 4
DEF C_PAUSED = 5
DEF C_HELD_DROPPED = 6
DEF C_FRAMES = 7
DEF C_NOT_UDP = 8
DEF C_TRUNCATED = 9
DEF C_FRAGMENTS = 10
DEF N_ENGINE = 11
# Stream counters (STREAM_COUNTERS order)
DEF S_PACKETS = 0
DEF S_WRONG_PT = 1
DEF S_ODD = 2
DEF S_REANCHORS = 3
DEF S_SSRC = 4
DEF S_RESTARTS = 5
DEF S_RECEIVED = 6
DEF S_RELEASED = 7
DEF S_LOST = 8
DEF S_LATE = 9
DEF S_DUPLICATE = 10
DEF N_STREAM = 11

DEF K_SLIN = 0
DEF K_ULAW = 1
DEF K_ALAW = 2

cdef short ULAW[256]
cdef short ALAW[256]


def _tables():
    import array
    u = array.array("h", _kernels_ref.ulaw_decode(bytes(range(256))))
    a = array.array("h", _kernels_ref.alaw_decode(bytes(range(256))))
    for i in range(256):
        ULAW[i] = u[i]
        ALAW[i] = a[i]


_tables()


cdef struct Held:
    int64_t ext
    uint32_t ts
    int32_t size          # raw payload bytes


cdef struct Piece:
    double t
    int64_t samples
    int64_t offset        # bytes into Slot.out
    int lost


cdef struct Slot:
    int open
    uint8_t host[16]
    int host_len
    int port
    int kind              # K_SLIN / K_ULAW / K_ALAW
    int rate
    int pt                # -1: any
    double offset
    int paused
    int64_t last_arrival_ms
    int64_t paused_dropped
    int64_t paused_first_ms
    # the stream (LegStream)
    int has_ssrc
    uint32_t ssrc
    double base_t
    int64_t base_ts
    int64_t last_ts
    double last_t
    int64_t last_len
    # the reorder buffer (JitterBuffer)
    int has_next
    int64_t next_seq
    int n_held
    int64_t frame_bytes
    Held *held
    uint8_t *held_data
    # placed audio held until take()
    uint8_t *out
    int64_t out_len
    int64_t cap_samples
    Piece *pieces
    int n_pieces
    int64_t held_samples
    int64_t held_dropped
    int64_t counters[N_STREAM]


cdef inline uint16_t _u16(const uint8_t *p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t _u32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef class Ingest:
    """Routes RTP to per-leg slots and holds each leg's placed audio until take()."""

    cdef readonly int max_legs
    cdef readonly int depth_packets
    cdef Slot *slots
    cdef int32_t *by_port
    cdef int64_t counts[N_ENGINE]
    cdef int64_t retired[N_STREAM]
    cdef uint8_t *rbuf
    cdef mmsghdr *msgs
    cdef iovec *iovs
    cdef sockaddr_storage *addrs

    def __cinit__(self, int max_legs, int depth_packets):
        self.slots = NULL
        self.by_port = NULL
        self.rbuf = NULL
        self.msgs = NULL
        self.iovs = NULL
        self.addrs = NULL

    def __init__(self, int max_legs, int depth_packets):
        if not 1 <= max_legs <= _ref.MAX_LEGS:
            raise ValueError(f"max_legs {max_legs} outside 1..{_ref.MAX_LEGS}")
        if not 1 <= depth_packets <= MAX_DEPTH_PACKETS:
            raise ValueError(f"depth_packets {depth_packets} outside 1..{MAX_DEPTH_PACKETS}")
        self.max_legs = max_legs
        self.depth_packets = depth_packets
        memset(self.counts, 0, sizeof(self.counts))
        memset(self.retired, 0, sizeof(self.retired))
        self.slots = <Slot *>calloc(max_legs, sizeof(Slot))
        self.by_port = <int32_t *>malloc(SEQ_MOD * sizeof(int32_t))
        self.rbuf = <uint8_t *>malloc(RECV_BATCH * (MAX_DGRAM + 1))
        self.msgs = <mmsghdr *>calloc(RECV_BATCH, sizeof(mmsghdr))
        self.iovs = <iovec *>calloc(RECV_BATCH, sizeof(iovec))
        self.addrs = <sockaddr_storage *>calloc(RECV_BATCH, sizeof(sockaddr_storage))
        if not (self.slots and self.by_port and self.rbuf and self.msgs and self.iovs
                and self.addrs):
            raise MemoryError()
        cdef int i
        for i in range(SEQ_MOD):
            self.by_port[i] = -1

    def __dealloc__(self):
        cdef int i
        if self.slots != NULL:
            for i in range(self.max_legs):
                _free_slot(&self.slots[i])
            free(self.slots)
        free(self.by_port)
        free(self.rbuf)
        free(self.msgs)
        free(self.iovs)
        free(self.addrs)

    # --- legs ------------------------------------------------------------------------------

    def open_leg(self, host, int port, codec, double clock_offset_s):
        if codec not in WIRE_CODECS:
            raise IngestError(f"unknown codec {codec!r} (one of {', '.join(WIRE_CODECS)})")
        cdef bytes h = bytes(host)
        if len(h) not in (0, 4, 16):
            raise IngestError(f"host must be 0, 4 or 16 bytes, not {len(h)}")
        if not 0 < port < SEQ_MOD:
            raise IngestError(f"port {port} outside 1..{SEQ_MOD - 1}")
        if self.by_port[port] >= 0:
            raise IngestError(f"port {port} is already routed")
        cdef int i, free_i = -1
        for i in range(self.max_legs):
            if not self.slots[i].open:
                free_i = i
                break
        if free_i < 0:
            raise IngestError(f"{self.max_legs} legs in use")
        cdef Slot *s = &self.slots[free_i]
        memset(s, 0, sizeof(Slot))
        cdef int rate = CODEC_RATE[codec]
        s.cap_samples = <int64_t>nearbyint(HELD_S * rate)
        s.held = <Held *>calloc(self.depth_packets + 1, sizeof(Held))
        s.held_data = <uint8_t *>malloc((self.depth_packets + 1) * MAX_PAYLOAD)
        s.out = <uint8_t *>malloc(2 * s.cap_samples)
        s.pieces = <Piece *>calloc(MAX_PIECES, sizeof(Piece))
        if not (s.held and s.held_data and s.out and s.pieces):
            _free_slot(s)
            raise MemoryError()
        s.open = 1
        s.host_len = len(h)
        if s.host_len:
            memcpy(s.host, <const char *>h, s.host_len)
        s.port = port
        s.kind = K_SLIN if codec in ("slin16", "slin") else (K_ULAW if codec == "ulaw" else K_ALAW)
        s.rate = rate
        pt = CODEC_PT[codec]
        s.pt = -1 if pt is None else pt
        s.offset = clock_offset_s
        s.last_arrival_ms = -1
        s.paused_first_ms = -1
        self.by_port[port] = free_i
        return free_i

    def close_leg(self, int slot):
        if not 0 <= slot < self.max_legs or not self.slots[slot].open:
            return
        cdef Slot *s = &self.slots[slot]
        cdef int k
        for k in range(N_STREAM):
            self.retired[k] += s.counters[k]
        self.counts[C_HELD_DROPPED] += s.held_dropped
        self.by_port[s.port] = -1
        _free_slot(s)

    cdef Slot *_get(self, int slot) except NULL:
        if not 0 <= slot < self.max_legs or not self.slots[slot].open:
            raise IngestError(f"slot {slot} is not open")
        return &self.slots[slot]

    def set_paused(self, int slot, paused):
        cdef Slot *s = self._get(slot)
        if paused and not s.paused:
            s.paused_first_ms = -1
        s.paused = 1 if paused else 0

    def reset(self, int slot):
        cdef Slot *s = self._get(slot)
        s.has_ssrc = 0
        s.has_next = 0
        s.n_held = 0
        s.frame_bytes = 0

    # --- inputs ----------------------------------------------------------------------------

    def feed(self, data, host, int port, double now_s):
        cdef const uint8_t[::1] d = memoryview(data).cast("B")
        cdef bytes h = bytes(host)
        cdef const uint8_t *dp = &d[0] if d.shape[0] else EMPTY
        self.counts[C_DATAGRAMS] += 1
        self._datagram(dp, d.shape[0], <const uint8_t *>(<const char *>h), len(h), port, now_s)

    def recv(self, int fd, double now_s, int max_datagrams):
        cdef int n = 0, got, i, want
        cdef mmsghdr *m
        cdef sockaddr_in *a4
        cdef sockaddr_in6 *a6
        cdef uint8_t *buf
        while n < max_datagrams:
            want = max_datagrams - n
            if want > RECV_BATCH:
                want = RECV_BATCH
            for i in range(want):
                self.iovs[i].iov_base = self.rbuf + i * (MAX_DGRAM + 1)
                self.iovs[i].iov_len = MAX_DGRAM + 1
                m = &self.msgs[i]
                m.msg_hdr.msg_name = &self.addrs[i]
                m.msg_hdr.msg_namelen = sizeof(sockaddr_storage)
                m.msg_hdr.msg_iov = &self.iovs[i]
                m.msg_hdr.msg_iovlen = 1
                m.msg_hdr.msg_control = NULL
                m.msg_hdr.msg_controllen = 0
                m.msg_hdr.msg_flags = 0
            with nogil:
                got = recvmmsg(fd, self.msgs, want, MSG_DONTWAIT, NULL)
            if got <= 0:
                break  # EAGAIN: drained; other errors: reported on the socket, next wake-up
            for i in range(got):
                m = &self.msgs[i]
                buf = self.rbuf + i * (MAX_DGRAM + 1)
                self.counts[C_DATAGRAMS] += 1
                if m.msg_hdr.msg_flags & MSG_TRUNC:
                    self.counts[C_TOO_LARGE] += 1
                    continue
                if self.addrs[i].ss_family == AF_INET:
                    a4 = <sockaddr_in *>&self.addrs[i]
                    self._datagram(buf, m.msg_len, <const uint8_t *>&a4.sin_addr.s_addr, 4,
                                   ntohs(a4.sin_port), now_s)
                elif self.addrs[i].ss_family == AF_INET6:
                    a6 = <sockaddr_in6 *>&self.addrs[i]
                    self._datagram(buf, m.msg_len, a6.sin6_addr.s6_addr, 16,
                                   ntohs(a6.sin6_port), now_s)
                else:
                    self.counts[C_UNROUTED] += 1
            n += got
            if got < want:
                break
        return n

    def feed_block(self, block, double now_s, wall_minus_loop_s=None):
        cdef bint stamped = wall_minus_loop_s is not None
        cdef double offset_s = wall_minus_loop_s if stamped else 0.0
        cdef double t
        cdef const uint8_t[::1] v = memoryview(block).cast("B")
        cdef Py_ssize_t size = v.shape[0]
        if size < BLOCK_DESC:
            self.counts[C_TRUNCATED] += 1
            return 0
        cdef const uint8_t *base = &v[0]
        cdef tpacket_block_desc desc
        cdef tpacket3_hdr hdr
        memcpy(&desc, base, sizeof(tpacket_block_desc))
        cdef uint32_t num_pkts = desc.hdr.bh1.num_pkts
        cdef int64_t offset = desc.hdr.bh1.offset_to_first_pkt
        cdef int64_t end
        cdef uint32_t walked = 0
        while walked < num_pkts:
            if offset + FRAME_HDR > size or offset < BLOCK_DESC:
                self.counts[C_TRUNCATED] += 1
                break
            memcpy(&hdr, base + offset, sizeof(tpacket3_hdr))
            walked += 1
            self.counts[C_FRAMES] += 1
            end = offset + hdr.tp_mac + <int64_t>hdr.tp_snaplen
            if hdr.tp_net < hdr.tp_mac or end > size or hdr.tp_mac < FRAME_HDR:
                self.counts[C_TRUNCATED] += 1
            else:
                t = now_s  # the reference's frame_time
                if stamped and (hdr.tp_sec != 0 or hdr.tp_nsec != 0):
                    t = <double>hdr.tp_sec + <double>hdr.tp_nsec * 1e-9 - offset_s
                    if t < now_s - FRAME_AGE:
                        t = now_s - FRAME_AGE
                    if t > now_s:
                        t = now_s
                self._ip(base + offset + hdr.tp_net, end - offset - hdr.tp_net, t)
            if hdr.tp_next_offset == 0:
                break
            offset += hdr.tp_next_offset
        return walked

    cdef void _ip(self, const uint8_t *p, int64_t size, double now_s) noexcept:
        cdef int version, ihl
        cdef int64_t total, length
        cdef const uint8_t *host
        cdef const uint8_t *udp
        cdef int host_len
        if size < 1:
            self.counts[C_TRUNCATED] += 1
            return
        version = p[0] >> 4
        if version == 4:
            ihl = (p[0] & 0x0F) * 4
            if ihl < 20 or size < ihl:
                self.counts[C_TRUNCATED] += 1
                return
            total = _u16(p + 2)
            if p[9] != 17:
                self.counts[C_NOT_UDP] += 1
                return
            if _u16(p + 6) & 0x3FFF:
                self.counts[C_FRAGMENTS] += 1
                return
            if total < ihl or total > size:
                self.counts[C_TRUNCATED] += 1
                return
            host, host_len, udp, size = p + 16, 4, p + ihl, total - ihl
        elif version == 6:
            if size < 40:
                self.counts[C_TRUNCATED] += 1
                return
            if p[6] != 17:
                self.counts[C_NOT_UDP] += 1
                return
            total = 40 + <int64_t>_u16(p + 4)
            if total > size:
                self.counts[C_TRUNCATED] += 1
                return
            host, host_len, udp, size = p + 24, 16, p + 40, total - 40
        else:
            self.counts[C_NOT_UDP] += 1
            return
        if size < 8:
            self.counts[C_TRUNCATED] += 1
            return
        length = _u16(udp + 4)
        if length < 8 or length > size:
            self.counts[C_TRUNCATED] += 1
            return
        self.counts[C_DATAGRAMS] += 1
        self._datagram(udp + 8, length - 8, host, host_len, _u16(udp + 2), now_s)

    cdef void _datagram(self, const uint8_t *data, int64_t size, const uint8_t *host,
                        int host_len, int port, double now_s) noexcept:
        if size > MAX_DGRAM:
            self.counts[C_TOO_LARGE] += 1
            return
        cdef int32_t index = self.by_port[port] if 0 <= port < SEQ_MOD else -1
        if index < 0:
            self.counts[C_UNROUTED] += 1
            return
        cdef Slot *s = &self.slots[index]
        if s.host_len and (s.host_len != host_len or memcmp(s.host, host, host_len) != 0):
            self.counts[C_UNROUTED] += 1
            return
        self.counts[C_ROUTED] += 1
        if s.paused:
            self.counts[C_PAUSED] += 1
            s.paused_dropped += 1
            if s.paused_first_ms < 0:
                s.paused_first_ms = <int64_t>(now_s * 1000)
            return
        # parse_rtp
        if size < 12:
            self.counts[C_MALFORMED] += 1
            return
        cdef uint8_t b0 = data[0], b1 = data[1]
        cdef int pt = b1 & 0x7F
        cdef int64_t pos = 12, end = size, ext_len
        cdef int pad
        if not (b0 == 0x80 and not (72 <= pt <= 76)):
            if (b0 >> 6) != 2 or 72 <= pt <= 76:
                self.counts[C_MALFORMED] += 1
                return
            pos = 12 + 4 * (b0 & 0x0F)
            if size < pos:
                self.counts[C_MALFORMED] += 1
                return
            if b0 & 0x10:
                if size < pos + 4:
                    self.counts[C_MALFORMED] += 1
                    return
                ext_len = 4 * <int64_t>_u16(data + pos + 2)
                pos += 4
                if size < pos + ext_len:
                    self.counts[C_MALFORMED] += 1
                    return
                pos += ext_len
            if b0 & 0x20:
                pad = data[size - 1]
                if pad == 0 or pad > size - pos:
                    self.counts[C_MALFORMED] += 1
                    return
                end = size - pad
        s.last_arrival_ms = <int64_t>(now_s * 1000)
        _push(s, self.depth_packets, pt, _u16(data + 2), _u32(data + 4), _u32(data + 8),
              data + pos, end - pos, now_s - s.offset)

    # --- output ----------------------------------------------------------------------------

    def take(self, int slot):
        cdef Slot *s = self._get(slot)
        cdef list out = []
        cdef int i
        cdef Piece *p
        for i in range(s.n_pieces):
            p = &s.pieces[i]
            out.append(PlacedAudio(_round(p.t, 6),
                                   (<char *>s.out)[p.offset:p.offset + 2 * p.samples],
                                   bool(p.lost)))
        s.n_pieces = 0
        s.out_len = 0
        s.held_samples = 0
        return out

    def flush(self, int slot):
        cdef Slot *s = self._get(slot)
        _jitter_flush(s, 1)
        return self.take(slot)

    # --- counters --------------------------------------------------------------------------

    def stats(self):
        cdef int i, k
        out = {name: self.counts[k] for k, name in enumerate(_ref.ENGINE_COUNTERS)}
        totals = [self.retired[k] for k in range(N_STREAM)]
        legs = 0
        for i in range(self.max_legs):
            if self.slots[i].open:
                legs += 1
                out["held_dropped"] += self.slots[i].held_dropped
                for k in range(N_STREAM):
                    totals[k] += self.slots[i].counters[k]
        for k, name in enumerate(_ref.STREAM_COUNTERS):
            out[name] = totals[k]
        out["legs"] = legs
        return out

    def leg_stats(self, int slot):
        cdef Slot *s = self._get(slot)
        cdef int k
        out = {name: s.counters[k] for k, name in enumerate(_ref.STREAM_COUNTERS)}
        out.update(held_dropped=s.held_dropped, held_samples=s.held_samples,
                   last_arrival_ms=s.last_arrival_ms, paused=s.paused,
                   paused_dropped=s.paused_dropped, paused_first_ms=s.paused_first_ms)
        return out


cdef void _free_slot(Slot *s) noexcept:
    free(s.held)
    free(s.held_data)
    free(s.out)
    free(s.pieces)
    memset(s, 0, sizeof(Slot))


# --- LegStream ---------------------------------------------------------------------------------

cdef inline int64_t _unwrap(Slot *s, uint32_t ts) noexcept:
    cdef int64_t delta = <uint32_t>(ts - <uint32_t>s.last_ts)
    if delta >= TS_MOD // 2:
        delta -= TS_MOD
    return s.last_ts + delta


cdef inline int64_t _extend(Slot *s, uint16_t seq) noexcept:
    cdef int64_t delta = <uint16_t>(seq - <uint16_t>s.next_seq)
    if delta >= SEQ_MOD // 2:
        delta -= SEQ_MOD
    return s.next_seq + delta


cdef inline int64_t _pcm_bytes(Slot *s, int64_t size) noexcept:
    return size if s.kind == K_SLIN else 2 * size


cdef void _push(Slot *s, int depth, int pt, uint16_t seq, uint32_t ts, uint32_t ssrc,
                const uint8_t *payload, int64_t size, double call_t) noexcept:
    s.counters[S_PACKETS] += 1
    if s.pt >= 0 and pt != s.pt:
        s.counters[S_WRONG_PT] += 1
        return
    if s.kind == K_SLIN and size % 2:
        s.counters[S_ODD] += 1
        return
    cdef int64_t ext
    cdef double d
    if not s.has_ssrc or ssrc != s.ssrc:
        if s.has_ssrc:
            s.counters[S_SSRC] += 1
        _anchor(s, ts, ssrc, _pcm_bytes(s, size), call_t)
    elif s.has_next and _abs64(_extend(s, seq) - s.next_seq) >= RESYNC:
        s.counters[S_RESTARTS] += 1
        _jitter_flush(s, 1)
        _anchor(s, ts, ssrc, _pcm_bytes(s, size), call_t)
    else:
        d = s.base_t + <double>(_unwrap(s, ts) - s.base_ts) / s.rate - call_t
        if not (-BEHIND <= d and d <= AHEAD):
            s.counters[S_REANCHORS] += 1
            _anchor(s, ts, ssrc, _pcm_bytes(s, size), call_t)
    _jitter_push(s, depth, seq, ts, payload, size)


cdef inline int64_t _abs64(int64_t x) noexcept:
    return -x if x < 0 else x


cdef void _anchor(Slot *s, uint32_t ts, uint32_t ssrc, int64_t pcm_bytes,
                  double call_t) noexcept:
    s.has_next = 0      # a new reorder buffer: what the old one held is dropped
    s.n_held = 0
    s.frame_bytes = 0
    s.has_ssrc = 1
    s.ssrc = ssrc
    cdef double start = call_t - (<double>pcm_bytes / 2) / s.rate
    cdef double base = nearbyint(start / FRAME) * FRAME
    s.base_t = base if base > 0.0 else 0.0
    s.base_ts = ts
    s.last_ts = ts
    s.last_t = s.base_t
    s.last_len = 0


# --- JitterBuffer ------------------------------------------------------------------------------

cdef void _jitter_push(Slot *s, int depth, uint16_t seq, uint32_t ts, const uint8_t *payload,
                       int64_t size) noexcept:
    s.counters[S_RECEIVED] += 1
    if not s.has_next:
        s.has_next = 1
        s.next_seq = seq
    cdef int64_t ext = _extend(s, seq)
    cdef int i
    if ext == s.next_seq and s.n_held == 0:
        s.next_seq = ext + 1
        s.frame_bytes = _pcm_bytes(s, size)
        s.counters[S_RELEASED] += 1
        _emit(s, 0, ts, payload, size)
        return
    if _abs64(ext - s.next_seq) >= RESYNC:
        _drain(s, 0)
        s.next_seq = ext
    elif ext < s.next_seq:
        s.counters[S_LATE] += 1
        return
    else:
        for i in range(s.n_held):
            if s.held[i].ext == ext:
                s.counters[S_DUPLICATE] += 1
                return
    # insert (there is room: at most depth + 1 held)
    i = s.n_held
    s.held[i].ext = ext
    s.held[i].ts = ts
    s.held[i].size = <int32_t>size
    memcpy(s.held_data + i * MAX_PAYLOAD, payload, size)
    s.n_held += 1
    _release(s)
    while s.n_held > depth:
        _skip(s)
        _release(s)


cdef inline int _find(Slot *s, int64_t ext) noexcept:
    cdef int i
    for i in range(s.n_held):
        if s.held[i].ext == ext:
            return i
    return -1


cdef void _release(Slot *s) noexcept:
    cdef int i, last
    cdef Held h
    while s.n_held:
        i = _find(s, s.next_seq)
        if i < 0:
            return
        h = s.held[i]
        s.frame_bytes = _pcm_bytes(s, h.size)
        s.counters[S_RELEASED] += 1
        _emit(s, 0, h.ts, s.held_data + i * MAX_PAYLOAD, h.size)
        # remove entry i: move the last one into its place
        last = s.n_held - 1
        if i != last:
            s.held[i] = s.held[last]
            memcpy(s.held_data + i * MAX_PAYLOAD, s.held_data + last * MAX_PAYLOAD,
                   s.held[last].size)
        s.n_held -= 1
        s.next_seq += 1


cdef void _skip(Slot *s) noexcept:
    _emit(s, 1, 0, NULL, s.frame_bytes)
    s.counters[S_LOST] += 1
    s.next_seq += 1


cdef void _drain(Slot *s, int fill) noexcept:
    cdef int i
    cdef int64_t first
    while s.n_held:
        if fill:
            _release(s)
            if s.n_held:
                _skip(s)
        else:
            first = s.held[0].ext
            for i in range(1, s.n_held):
                if s.held[i].ext < first:
                    first = s.held[i].ext
            s.next_seq = first
            _release(s)


cdef void _jitter_flush(Slot *s, int fill) noexcept:
    if s.has_next:
        _drain(s, fill)


# --- placement and the held output -------------------------------------------------------------

cdef void _emit(Slot *s, int lost, uint32_t ts, const uint8_t *payload, int64_t size) noexcept:
    """One frame released by the reorder buffer (lost: ``size`` bytes of PCM silence)."""
    cdef double t
    cdef int64_t ext, pcm_bytes = size if lost else _pcm_bytes(s, size)
    if lost:
        t = s.last_t + (<double>s.last_len / 2) / s.rate
    else:
        ext = _unwrap(s, ts)
        t = s.base_t + <double>(ext - s.base_ts) / s.rate
        s.last_ts = ext
    s.last_t = t
    s.last_len = pcm_bytes
    cdef int64_t n = pcm_bytes // 2
    cdef Piece *p
    cdef uint8_t *dst
    if s.n_pieces:
        p = &s.pieces[s.n_pieces - 1]
        if p.lost == lost and s.held_samples + n <= s.cap_samples and \
                fabs(t - (p.t + <double>p.samples / s.rate)) <= CONTIGUOUS:
            dst = s.out + s.out_len
            _decode(s, lost, payload, size, dst)
            p.samples += n
            s.out_len += 2 * n
            s.held_samples += n
            return
    cdef int64_t dropped
    cdef int i
    while s.n_pieces and (s.held_samples + n > s.cap_samples or s.n_pieces >= MAX_PIECES):
        dropped = s.pieces[0].samples
        s.held_samples -= dropped
        s.held_dropped += dropped
        memmove(s.out, s.out + 2 * dropped, s.out_len - 2 * dropped)
        s.out_len -= 2 * dropped
        memmove(s.pieces, s.pieces + 1, (s.n_pieces - 1) * sizeof(Piece))
        s.n_pieces -= 1
        for i in range(s.n_pieces):
            s.pieces[i].offset -= 2 * dropped
    p = &s.pieces[s.n_pieces]
    s.n_pieces += 1
    p.t = t
    p.samples = n
    p.offset = s.out_len
    p.lost = lost
    _decode(s, lost, payload, size, s.out + s.out_len)
    s.out_len += 2 * n
    s.held_samples += n


cdef inline void _decode(Slot *s, int lost, const uint8_t *payload, int64_t size,
                         uint8_t *dst) noexcept:
    cdef int64_t i
    cdef short v
    if lost:
        memset(dst, 0, size)
    elif s.kind == K_SLIN:
        for i in range(0, size, 2):
            dst[i] = payload[i + 1]
            dst[i + 1] = payload[i]
    elif s.kind == K_ULAW:
        for i in range(size):
            v = ULAW[payload[i]]
            memcpy(dst + 2 * i, &v, 2)
    else:
        for i in range(size):
            v = ALAW[payload[i]]
            memcpy(dst + 2 * i, &v, 2)
