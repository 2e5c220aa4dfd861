"""Sans-I/O ingest engine (the readable reference): datagrams and capture blocks in, audio out.

The contract (docs: /work/plan/engine_api.md; ``edgeqa.media._ingest_c`` is the compiled twin,
tested equal in tests/parity/): each open leg is a SLOT, keyed by (host, port). Datagrams are
routed to their slot by a port-indexed table and a host check, parsed as RTP (edgeqa.media.rtp),
and run through the slot's LegStream (reorder, placement on the call timeline, decode to int16
LE PCM). The placed audio waits in the slot until take(): contiguous pieces merged into one, at
most MAX_HELD_S of it (beyond that, the oldest pieces are dropped and counted).

Inputs: feed() (one datagram: KEY is its source), recv() (drain a non-blocking UDP socket: KEY is
each datagram's source), feed_block() (one TPACKET_V3 block of a PACKET_RX_RING: each frame an
IPv4/IPv6 UDP datagram, KEY is its destination). Nothing from outside raises: every datagram or
frame that is malformed, unrouted or unwanted is counted in stats().

A slot's state is bounded: depth_packets + 1 payloads of at most 1,488 bytes, MAX_HELD_S of
PCM and MAX_HELD_PIECES pieces: in the compiled engine 44 KiB for slin16 at depth 5, 29 KiB
at 8 kHz (issue 9: at most 64 KiB per live leg).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from edgeqa.media.jitter import MAX_DEPTH_PACKETS, JitterStats
from edgeqa.media.rtp import MAX_DATAGRAM_BYTES, RtpError, parse_rtp
from edgeqa.media.timeline import (
    CODEC_PT,
    CODEC_RATE,
    WIRE_CODECS,
    LegStream,
    PlacedAudio,
    StreamStats,
    WireCodec,
)

#: Placed audio a slot holds between two takes at most (the ticks take it every 0.25 s).
MAX_HELD_S = 1.0
#: Pieces (runs of contiguous audio) a slot holds between two takes at most.
MAX_HELD_PIECES = 128
#: Legs one engine routes at most (the port table is 65,536 entries whatever this is).
MAX_LEGS = 10_000
#: Two pieces are contiguous when the second starts within this of the first's end (s).
CONTIGUOUS_S = 1e-9
PORTS = 1 << 16

#: TPACKET_V3 (linux/if_packet.h): struct tpacket_block_desc = version, offset_to_priv, then
#: struct tpacket_hdr_v1 = block_status, num_pkts, offset_to_first_pkt, blk_len, ...
BLOCK_HEADER = struct.Struct("=IIIIII")
#: sizeof(struct tpacket_block_desc): a block smaller than this holds no frame.
BLOCK_DESC_BYTES = 48
#: struct tpacket3_hdr: tp_next_offset, tp_sec, tp_nsec, tp_snaplen, tp_len, tp_status,
#: tp_mac, tp_net (then hv1 and padding: 48 bytes in all).
FRAME_HEADER = struct.Struct("=IIIIIIHH")
FRAME_HEADER_BYTES = 48
#: A frame's kernel time (tp_sec, tp_nsec: the wall clock when the kernel took the packet) is
#: its arrival, on the loop's clock, no later than the block's reading and no earlier than this
#: before it (a wall clock that stepped meanwhile cannot place audio further off).
MAX_FRAME_AGE_S = 2.0
IPV4_MIN_HEADER = 20
IPV6_HEADER = 40
UDP_HEADER = 8
IPPROTO_UDP = 17

#: The engine's counters, every one always present in stats().
ENGINE_COUNTERS = (
    "datagrams", "routed", "unrouted", "malformed", "too_large", "paused_dropped",
    "held_dropped", "frames", "frames_not_udp", "frames_truncated", "fragments",
)
#: The per-leg stream counters, summed over every leg (open or closed) in stats().
STREAM_COUNTERS = (
    "packets", "wrong_payload_type", "odd_payload", "reanchors", "ssrc_changes", "restarts",
    "received", "released", "lost", "late", "duplicate",
)


class IngestError(ValueError):
    """A leg that cannot be opened (bad codec, port taken, engine full)."""


@dataclass(slots=True)
class _Piece:
    """A run of contiguous placed audio: its call time (not rounded), samples, PCM."""

    t_s: float
    samples: int
    lost: bool
    pcm: bytearray


@dataclass(slots=True)
class _Slot:
    host: bytes
    port: int
    codec: WireCodec
    rate: int
    clock_offset_s: float
    depth: int
    stream: LegStream = field(init=False)
    stream_stats: StreamStats = field(default_factory=StreamStats)
    jitter_stats: JitterStats = field(default_factory=JitterStats)
    paused: bool = False
    #: Placed audio not taken yet.
    pieces: list[_Piece] = field(default_factory=list)
    held_samples: int = 0
    held_dropped: int = 0
    last_arrival_ms: int = -1
    #: Datagrams dropped while paused; the loop time (ms) of the first since the pause began.
    paused_dropped: int = 0
    paused_first_ms: int = -1

    def __post_init__(self) -> None:
        self.new_stream()

    def new_stream(self) -> None:
        self.stream = LegStream(self.rate, CODEC_PT[self.codec], self.depth,
                                self.stream_stats, codec=self.codec,
                                jitter_stats=self.jitter_stats)


def _counters(slot: _Slot) -> dict[str, int]:
    s, j = slot.stream_stats, slot.jitter_stats
    return {"packets": s.packets, "wrong_payload_type": s.wrong_payload_type,
            "odd_payload": s.odd_payload, "reanchors": s.reanchors,
            "ssrc_changes": s.ssrc_changes, "restarts": s.restarts, "received": j.received,
            "released": j.released, "lost": j.lost, "late": j.late, "duplicate": j.duplicate}


class Ingest:
    """Routes RTP to per-leg slots and holds each leg's placed audio until take()."""

    def __init__(self, max_legs: int, depth_packets: int) -> None:
        if not 1 <= max_legs <= MAX_LEGS:
            raise ValueError(f"max_legs {max_legs} outside 1..{MAX_LEGS}")
        if not 1 <= depth_packets <= MAX_DEPTH_PACKETS:
            raise ValueError(f"depth_packets {depth_packets} outside 1..{MAX_DEPTH_PACKETS}")
        self.max_legs = max_legs
        self.depth_packets = depth_packets
        self._slots: list[_Slot | None] = [None] * max_legs
        self._by_port: dict[int, int] = {}
        self._counts = dict.fromkeys(ENGINE_COUNTERS, 0)
        self._retired = dict.fromkeys(STREAM_COUNTERS, 0)
        self._buf = bytearray(MAX_DATAGRAM_BYTES + 1)

    # --- legs ------------------------------------------------------------------------------

    def open_leg(self, host: bytes, port: int, codec: WireCodec, clock_offset_s: float) -> int:
        """Route datagrams keyed (host, port) to a new slot; return it. Raise if taken/full."""
        if codec not in WIRE_CODECS:
            raise IngestError(f"unknown codec {codec!r} (one of {', '.join(WIRE_CODECS)})")
        if len(host) not in (0, 4, 16):
            raise IngestError(f"host must be 0, 4 or 16 bytes, not {len(host)}")
        if not 0 < port < PORTS:
            raise IngestError(f"port {port} outside 1..{PORTS - 1}")
        if port in self._by_port:
            raise IngestError(f"port {port} is already routed")
        free = next((i for i, s in enumerate(self._slots) if s is None), None)
        if free is None:
            raise IngestError(f"{self.max_legs} legs in use")
        self._slots[free] = _Slot(bytes(host), port, codec, CODEC_RATE[codec],
                                  float(clock_offset_s), self.depth_packets)
        self._by_port[port] = free
        return free

    def close_leg(self, slot: int) -> None:
        """Free ``slot`` and its key (idempotent)."""
        s = self._slots[slot] if 0 <= slot < self.max_legs else None
        if s is None:
            return
        for name, value in _counters(s).items():
            self._retired[name] += value
        self._counts["held_dropped"] += s.held_dropped
        self._by_port.pop(s.port, None)
        self._slots[slot] = None

    def set_paused(self, slot: int, paused: bool) -> None:
        """Paused: the slot's datagrams are counted (paused_dropped) and dropped."""
        s = self._get(slot)
        if paused and not s.paused:
            s.paused_first_ms = -1
        s.paused = bool(paused)

    def reset(self, slot: int) -> None:
        """Forget the slot's stream state (what its reorder buffer holds is dropped); the
        next packet re-anchors. Placed audio not taken yet stays."""
        self._get(slot).new_stream()

    def _get(self, slot: int) -> _Slot:
        s = self._slots[slot] if 0 <= slot < self.max_legs else None
        if s is None:
            raise IngestError(f"slot {slot} is not open")
        return s

    # --- inputs ----------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview, host: bytes, port: int,
             now_s: float) -> None:
        """One datagram from (host, port), read at loop time ``now_s``."""
        self._counts["datagrams"] += 1
        self._datagram(data, host, port, now_s)

    def _datagram(self, data: bytes | bytearray | memoryview, host: bytes, port: int,
                  now_s: float) -> None:
        counts = self._counts
        if len(data) > MAX_DATAGRAM_BYTES:
            counts["too_large"] += 1
            return
        index = self._by_port.get(port)
        s = self._slots[index] if index is not None else None
        if s is None or (s.host and s.host != host):
            counts["unrouted"] += 1
            return
        counts["routed"] += 1
        if s.paused:
            counts["paused_dropped"] += 1
            s.paused_dropped += 1
            if s.paused_first_ms < 0:
                s.paused_first_ms = int(now_s * 1000)
            return
        try:
            packet = parse_rtp(data)
        except RtpError:
            counts["malformed"] += 1
            return
        s.last_arrival_ms = int(now_s * 1000)
        self._hold(s, s.stream.push_raw(packet, now_s - s.clock_offset_s))

    def recv(self, fd: int, now_s: float, max_datagrams: int) -> int:
        """Drain the non-blocking UDP socket ``fd`` (at most ``max_datagrams``); return the
        count read. Socket errors other than "no more" end the drain (ICMP errors, ...)."""
        sock = socket.socket(fileno=fd)
        sock.settimeout(0.0)  # the socket is non-blocking: so is this view of it
        buf, view = self._buf, memoryview(self._buf)
        n = 0
        try:
            while n < max_datagrams:
                try:
                    size, addr = sock.recvfrom_into(buf)
                except OSError:  # BlockingIOError: drained; others: reported by the socket
                    break
                n += 1
                self._counts["datagrams"] += 1
                family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
                self._datagram(view[:size], socket.inet_pton(family, addr[0]), addr[1], now_s)
        finally:
            sock.detach()
        return n

    def feed_block(self, block: bytes | bytearray | memoryview, now_s: float,
                   wall_minus_loop_s: float | None = None) -> int:
        """Walk one TPACKET_V3 block read at loop time ``now_s``; return the frames walked
        (each counted in stats). With ``wall_minus_loop_s`` (the wall clock minus the loop's,
        read with ``now_s``) each frame arrived at its kernel time (frame_time), so that when
        the block is read does not move the audio on the call timeline; else at ``now_s``."""
        view = memoryview(block).cast("B")
        size = len(view)
        if size < BLOCK_DESC_BYTES:
            self._counts["frames_truncated"] += 1
            return 0
        _, _, _, num_pkts, offset, _ = BLOCK_HEADER.unpack_from(view)
        walked = 0
        while walked < num_pkts:
            if offset + FRAME_HEADER_BYTES > size or offset < BLOCK_DESC_BYTES:
                self._counts["frames_truncated"] += 1
                break
            next_offset, sec, nsec, snaplen, _, _, mac, net = FRAME_HEADER.unpack_from(view,
                                                                                      offset)
            walked += 1
            self._counts["frames"] += 1
            end = offset + mac + snaplen
            if net < mac or end > size or mac < FRAME_HEADER_BYTES:
                self._counts["frames_truncated"] += 1
            else:
                self._ip(view[offset + net:end], frame_time(sec, nsec, now_s,
                                                            wall_minus_loop_s))
            if next_offset == 0:
                break
            offset += next_offset
        return walked

    def _ip(self, pkt: memoryview, now_s: float) -> None:
        counts = self._counts
        if len(pkt) < 1:
            counts["frames_truncated"] += 1
            return
        version = pkt[0] >> 4
        if version == 4:
            ihl = (pkt[0] & 0x0F) * 4
            if ihl < IPV4_MIN_HEADER or len(pkt) < ihl:
                counts["frames_truncated"] += 1
                return
            total = int.from_bytes(pkt[2:4], "big")
            if pkt[9] != IPPROTO_UDP:
                counts["frames_not_udp"] += 1
                return
            if int.from_bytes(pkt[6:8], "big") & 0x3FFF:  # MF set or a fragment offset
                counts["fragments"] += 1
                return
            if total < ihl or total > len(pkt):
                counts["frames_truncated"] += 1
                return
            host, udp = bytes(pkt[16:20]), pkt[ihl:total]
        elif version == 6:
            if len(pkt) < IPV6_HEADER:
                counts["frames_truncated"] += 1
                return
            if pkt[6] != IPPROTO_UDP:  # extension headers included: not taken
                counts["frames_not_udp"] += 1
                return
            total = IPV6_HEADER + int.from_bytes(pkt[4:6], "big")
            if total > len(pkt):
                counts["frames_truncated"] += 1
                return
            host, udp = bytes(pkt[24:40]), pkt[IPV6_HEADER:total]
        else:
            counts["frames_not_udp"] += 1
            return
        if len(udp) < UDP_HEADER:
            counts["frames_truncated"] += 1
            return
        length = int.from_bytes(udp[4:6], "big")
        if length < UDP_HEADER or length > len(udp):
            counts["frames_truncated"] += 1
            return
        counts["datagrams"] += 1
        self._datagram(udp[UDP_HEADER:length], host, int.from_bytes(udp[2:4], "big"), now_s)

    # --- output ----------------------------------------------------------------------------

    def _hold(self, s: _Slot, placed: list[tuple[float, bytes, bool]]) -> None:
        cap = round(MAX_HELD_S * s.rate)
        pieces = s.pieces
        for t_s, pcm, lost in placed:
            n = len(pcm) // 2
            if pieces:
                last = pieces[-1]
                if last.lost == lost and s.held_samples + n <= cap and \
                        abs(t_s - (last.t_s + last.samples / s.rate)) <= CONTIGUOUS_S:
                    last.samples += n
                    last.pcm += pcm
                    s.held_samples += n
                    continue
            while pieces and (s.held_samples + n > cap or len(pieces) >= MAX_HELD_PIECES):
                dropped = pieces.pop(0).samples
                s.held_samples -= dropped
                s.held_dropped += dropped
            pieces.append(_Piece(t_s, n, lost, bytearray(pcm)))
            s.held_samples += n

    def take(self, slot: int) -> list[PlacedAudio]:
        """The audio placed since the last take (call time rounded to the microsecond)."""
        s = self._get(slot)
        out = [PlacedAudio(round(p.t_s, 6), bytes(p.pcm), p.lost) for p in s.pieces]
        s.pieces = []
        s.held_samples = 0
        return out

    def flush(self, slot: int) -> list[PlacedAudio]:
        """take(), after releasing what the reorder buffer holds (gaps filled as loss)."""
        s = self._get(slot)
        self._hold(s, s.stream.flush_raw())
        return self.take(slot)

    # --- counters --------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Engine counters and the stream counters summed over every leg (open or closed)."""
        out = dict(self._counts)
        out.update(self._retired)
        for s in self._slots:
            if s is not None:
                out["held_dropped"] += s.held_dropped
                for name, value in _counters(s).items():
                    out[name] += value
        out["legs"] = len(self._by_port)
        return out

    def leg_stats(self, slot: int) -> dict[str, int]:
        """One leg's counters; ``last_arrival_ms``: loop time (ms) of its last packet, or -1;
        ``paused_first_ms``: of the first datagram dropped since the pause began, or -1."""
        s = self._get(slot)
        out = _counters(s)
        out.update(held_dropped=s.held_dropped, held_samples=s.held_samples,
                   last_arrival_ms=s.last_arrival_ms, paused=int(s.paused),
                   paused_dropped=s.paused_dropped, paused_first_ms=s.paused_first_ms)
        return out


def frame_time(sec: int, nsec: int, now_s: float, wall_minus_loop_s: float | None) -> float:
    """The loop time a captured frame arrived: its kernel time (wall clock ``sec`` + ``nsec``)
    on the loop's clock, within [now_s - MAX_FRAME_AGE_S, now_s]; ``now_s`` (the block's
    reading) when there is no offset or the frame has no time."""
    if wall_minus_loop_s is None or (sec == 0 and nsec == 0):
        return now_s
    t = sec + nsec * 1e-9 - wall_minus_loop_s
    return min(now_s, max(now_s - MAX_FRAME_AGE_S, t))
