"""Thin adapter: the phones' RTP as the host receives it, from an AF_PACKET TPACKET_V3 ring.

An AF_PACKET ``SOCK_DGRAM`` socket (data starts at the IP header) on every interface, with a
classic BPF filter that keeps only packets the host *receives* (``PACKET_HOST``: on ``lo``
each packet also passes once as ``PACKET_OUTGOING``, which would double it), unfragmented UDP
(IPv4, or IPv6 without extension headers) to a destination port in Asterisk's RTP range. The
kernel fills a ``PACKET_RX_RING`` of TPACKET_V3 blocks and hands a block over when it is full
or RING_RETIRE_MS old; the loop's reader (or, while live calls are ticked, their one timer:
RtpCapture.hold) walks every block the kernel handed over (``block_status & TP_STATUS_USER``),
passes each block's memoryview to a sink (the ingest engine's ``feed_block``, which walks the
frames, each at its kernel time) with one clock reading, and gives it back.

No ARI object, no audiohook, no RTP port: capture costs Asterisk nothing
(docs/asterisk.md#the-capture-tap). It needs Linux and CAP_NET_RAW; anywhere else
open_capture raises CaptureUnavailable with the reason, and live metrics use the snoop tap.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import mmap
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# <linux/if_packet.h>, <linux/filter.h>, <asm-generic/socket.h>
SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_IGNORE_OUTGOING = 23
TPACKET_V3 = 2
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
SO_ATTACH_FILTER = 26
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PACKET_HOST = 0
IPPROTO_UDP = 17
#: Classic BPF ancillary loads (SKF_AD_OFF + SKF_AD_PROTOCOL / SKF_AD_PKTTYPE).
SKF_AD_PROTOCOL = 0xFFFFF000
SKF_AD_PKTTYPE = 0xFFFFF004

#: Ring limits. One block is handed over when full or this old: how late the newest audio can
#: be when the ring is read (a dead-air alert waits for its audio: edgeqa.live.service
#: ALERT_TICK_S). Where a frame goes on the call timeline does not depend on it: each frame
#: carries the kernel's time (Ingest.feed_block).
RING_RETIRE_MS = 20
#: 64 KiB blocks hold about 270 G.711 frames (240 bytes each with headers).
RING_BLOCK_BYTES = 1 << 16
#: 128 blocks (8 MiB): at 2,000 legs (100,000 packets/s, 24 MB/s) 330 ms of backlog before the
#: kernel drops (counted in tp_drops); at a few calls, 128 retire periods (1.3 s).
RING_BLOCKS = 128
#: TPACKET_V3 frames are variable-sized; tp_frame_size only has to divide the block.
RING_FRAME_BYTES = 2048
#: Blocks walked per wake-up at most (one lap of the ring), so one burst cannot starve the loop.
MAX_BLOCKS_PER_WAKEUP = RING_BLOCKS
#: Sink errors are logged on the first one, then once per this many.
LOG_ERRORS_EVERY = 1000

# struct tpacket_block_desc { u32 version; u32 offset_to_priv; struct tpacket_hdr_v1 h1; }
# tpacket_hdr_v1 { u32 block_status; u32 num_pkts; u32 offset_to_first_pkt; u32 blk_len; ...}
BLOCK_STATUS_OFFSET = 8
_U32 = struct.Struct("=I")
# struct tpacket_stats_v3 { u32 tp_packets, tp_drops, tp_freeze_q_cnt; }
_STATS_V3 = struct.Struct("=3I")

#: Called with one block's memoryview, the loop time it was read at and the wall clock minus
#: the loop's then (the frames' kernel times are wall clock); returns the frames walked.
BlockSink = Callable[[memoryview, float, float], int]
#: One classic BPF instruction: (code, jt, jf, k).
Instruction = tuple[int, int, int, int]


class CaptureUnavailable(Exception):
    """Capture cannot run here (not Linux, no CAP_NET_RAW, ...); the message says why."""


@dataclass(frozen=True, slots=True)
class RingLimits:
    """The size of one PACKET_RX_RING (named limits, validated)."""

    block_bytes: int = RING_BLOCK_BYTES
    blocks: int = RING_BLOCKS
    frame_bytes: int = RING_FRAME_BYTES
    retire_ms: int = RING_RETIRE_MS

    def __post_init__(self) -> None:
        page = mmap.PAGESIZE
        if self.block_bytes < page or self.block_bytes % page:
            raise ValueError(f"block_bytes must be a multiple of the page size {page}, "
                             f"got {self.block_bytes}")
        if not 1 <= self.blocks <= 4096:
            raise ValueError(f"blocks must be in 1..4096, got {self.blocks}")
        if self.frame_bytes < 64 or self.frame_bytes % 16 or self.block_bytes % self.frame_bytes:
            raise ValueError(f"frame_bytes must be a multiple of 16 dividing block_bytes, "
                             f"got {self.frame_bytes}")
        if not 1 <= self.retire_ms <= 1000:
            raise ValueError(f"retire_ms must be in 1..1000, got {self.retire_ms}")

    @property
    def total_bytes(self) -> int:
        return self.block_bytes * self.blocks

    def request(self) -> bytes:
        """struct tpacket_req3 for setsockopt(PACKET_RX_RING)."""
        frames = self.total_bytes // self.frame_bytes
        return struct.pack("=7I", self.block_bytes, self.blocks, self.frame_bytes, frames,
                           self.retire_ms, 0, 0)


def rtp_filter(port_start: int = 1, port_end: int = 65535) -> list[Instruction]:
    """Classic BPF for a SOCK_DGRAM packet socket (data at the IP header): accept packets the
    host receives (not its own outgoing copies) that are unfragmented UDP, IPv4 or IPv6
    (without extension headers), to a destination port in [port_start, port_end]."""
    if not 1 <= port_start <= port_end <= 65535:
        raise ValueError(f"bad port range {port_start}-{port_end}")
    reject = (0x06, 0, 0, 0)
    accept = (0x06, 0, 0, 0x40000)  # the whole packet
    # Jump offsets count from the next instruction; targets in the comments.
    return [
        (0x20, 0, 0, SKF_AD_PKTTYPE),    # 0  A = pkt_type
        (0x15, 0, 16, PACKET_HOST),      # 1  received by this host? else -> 18
        (0x20, 0, 0, SKF_AD_PROTOCOL),   # 2  A = ethertype (host order)
        (0x15, 0, 7, ETH_P_IP),          # 3  IPv4? else -> 11
        (0x30, 0, 0, 9),                 # 4  A = IPv4 protocol
        (0x15, 0, 12, IPPROTO_UDP),      # 5  UDP? else -> 18
        (0x28, 0, 0, 6),                 # 6  A = flags + fragment offset
        (0x45, 10, 0, 0x3FFF),           # 7  MF or an offset (a fragment) -> 18
        (0xB1, 0, 0, 0),                 # 8  X = IPv4 header length
        (0x48, 0, 0, 2),                 # 9  A = UDP destination port
        (0x05, 0, 0, 4),                 # 10 -> 15
        (0x15, 0, 6, ETH_P_IPV6),        # 11 IPv6? else -> 18
        (0x30, 0, 0, 6),                 # 12 A = IPv6 next header
        (0x15, 0, 4, IPPROTO_UDP),       # 13 UDP (no extension header)? else -> 18
        (0x28, 0, 0, 42),                # 14 A = UDP destination port (40 + 2)
        (0x35, 0, 2, port_start),        # 15 >= start? else -> 18
        (0x25, 1, 0, port_end),          # 16 > end -> 18
        accept,                          # 17
        reject,                          # 18
    ]


def assemble(program: list[Instruction]) -> bytes:
    """The program as an array of struct sock_filter (native byte order)."""
    return b"".join(struct.pack("=HBBI", *ins) for ins in program)


def run_filter(program: list[Instruction], packet: bytes, pkttype: int, protocol: int) -> int:
    """Interpret ``program`` over ``packet`` (IP header first): the bytes it would keep.

    A reference interpreter of the instructions rtp_filter uses, for tests on any platform.
    """
    a = x = pc = 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code == 0x20:  # ld [k] (word, or an ancillary load)
            if k == SKF_AD_PKTTYPE:
                a = pkttype
            elif k == SKF_AD_PROTOCOL:
                a = protocol
            elif k + 4 <= len(packet):
                a = int.from_bytes(packet[k:k + 4], "big")
            else:
                return 0
        elif code in (0x28, 0x30, 0x48):  # ldh [k], ldb [k], ldh [x + k]
            off = k + (x if code == 0x48 else 0)
            size = 1 if code == 0x30 else 2
            if off + size > len(packet):
                return 0
            a = int.from_bytes(packet[off:off + size], "big")
        elif code == 0xB1:  # ldxb 4 * ([k] & 0xf)
            if k >= len(packet):
                return 0
            x = 4 * (packet[k] & 0xF)
        elif code == 0x05:  # ja
            pc += k
        elif code in (0x15, 0x25, 0x35, 0x45):  # jeq, jgt, jge, jset
            hit = {0x15: a == k, 0x25: a > k, 0x35: a >= k, 0x45: bool(a & k)}[code]
            pc += jt if hit else jf
        elif code == 0x06:  # ret k
            return min(k, len(packet))
        else:
            raise ValueError(f"instruction {code:#x} not interpreted")


@dataclass(slots=True)
class CaptureStats:
    """Counters (mutable, read by health)."""

    wakeups: int = 0
    blocks: int = 0
    frames: int = 0
    #: Wake-ups that stopped at MAX_BLOCKS_PER_WAKEUP.
    full_wakeups: int = 0
    sink_errors: int = 0
    #: From PACKET_STATISTICS (summed: reading resets the kernel's counters).
    kernel_packets: int = 0
    kernel_drops: int = 0
    kernel_freezes: int = 0


class BlockRing:
    """Walks the blocks of a TPACKET_V3 ring that the kernel handed over, in ring order."""

    def __init__(self, buffer: mmap.mmap | bytearray, limits: RingLimits,
                 stats: CaptureStats | None = None) -> None:
        if len(buffer) < limits.total_bytes:
            raise ValueError(f"ring mapping of {len(buffer)} bytes < {limits.total_bytes}")
        self.limits = limits
        self.stats = stats if stats is not None else CaptureStats()
        self._buffer = buffer
        self._view = memoryview(buffer)
        self._next = 0

    def drain(self, sink: BlockSink, now_s: float, wall_minus_loop_s: float = 0.0,
              max_blocks: int = MAX_BLOCKS_PER_WAKEUP) -> int:
        """Hand every block the user owns to ``sink`` (at most ``max_blocks``), give each back
        to the kernel; return the blocks walked. A sink that raises costs its block only."""
        size, count, view = self.limits.block_bytes, self.limits.blocks, self._view
        walked = 0
        while walked < max_blocks:
            base = self._next * size
            status = _U32.unpack_from(view, base + BLOCK_STATUS_OFFSET)[0]
            if not status & TP_STATUS_USER:
                break
            block = view[base:base + size]
            try:
                self.stats.frames += sink(block, now_s, wall_minus_loop_s)
            except Exception:
                self.stats.sink_errors += 1
                if self.stats.sink_errors % LOG_ERRORS_EVERY == 1:
                    log.exception("capture: a block's frames failed (%d so far)",
                                  self.stats.sink_errors)
            finally:
                block.release()
                _U32.pack_into(view, base + BLOCK_STATUS_OFFSET, TP_STATUS_KERNEL)
            self._next = (self._next + 1) % count
            walked += 1
        self.stats.blocks += walked
        if walked:
            self.stats.wakeups += 1
            if walked == max_blocks:
                self.stats.full_wakeups += 1
        return walked

    def close(self) -> None:
        self._view.release()


def capture_supported() -> str | None:
    """None if this platform can capture; else why not."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "AF_PACKET"):
        return f"host RTP capture needs Linux (AF_PACKET); this is {sys.platform}"
    return None


def open_socket(port_start: int, port_end: int, limits: RingLimits
                ) -> tuple[socket.socket, mmap.mmap]:
    """A non-blocking packet socket with the filter and the ring mapped; raise
    CaptureUnavailable with the reason when the platform or the privileges refuse."""
    reason = capture_supported()
    if reason is not None:
        raise CaptureUnavailable(reason)
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    except PermissionError as exc:
        raise CaptureUnavailable(
            "host RTP capture needs CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_RAW); "
            f"opening a packet socket failed: {exc.strerror}") from exc
    except OSError as exc:
        raise CaptureUnavailable(f"cannot open a packet socket: {exc}") from exc
    try:
        code = assemble(rtp_filter(port_start, port_end))
        program = ctypes.create_string_buffer(code, len(code))
        fprog = struct.pack("@HP", len(code) // 8, ctypes.addressof(program))
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        try:  # Linux >= 4.20: outgoing packets are not even cloned for this socket
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError as exc:
            if exc.errno not in (errno.ENOPROTOOPT, errno.EINVAL):
                raise
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, limits.request())
        ring = mmap.mmap(sock.fileno(), limits.total_bytes, mmap.MAP_SHARED,
                         mmap.PROT_READ | mmap.PROT_WRITE)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise CaptureUnavailable(f"cannot set up the capture ring "
                                 f"({limits.blocks} x {limits.block_bytes} bytes): {exc}") from exc
    return sock, ring


class RtpCapture:
    """The ring's reader on the loop: each wake-up drains the ring into ``sink``; or, while
    held (hold), whoever holds it drains it on its own timer (drain), and the ring wakes no one.
    """

    def __init__(self, sink: BlockSink, clock: Callable[[], float],
                 limits: RingLimits | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._clock = clock
        self._wall = wall
        self._held = False
        self.limits = limits or RingLimits()
        self.stats = CaptureStats()
        self._sock: socket.socket | None = None
        self._map: mmap.mmap | None = None
        self._ring: BlockRing | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self, loop: asyncio.AbstractEventLoop, port_start: int, port_end: int) -> None:
        """Open the socket and ring and start reading; raise CaptureUnavailable."""
        self._sock, self._map = open_socket(port_start, port_end, self.limits)
        self._ring = BlockRing(self._map, self.limits, self.stats)
        self._loop = loop
        loop.add_reader(self._sock.fileno(), self._on_readable)
        log.info("capture: RTP to ports %d-%d, ring %d x %d KiB, retire %d ms", port_start,
                 port_end, self.limits.blocks, self.limits.block_bytes // 1024,
                 self.limits.retire_ms)

    def _on_readable(self) -> None:
        self.drain()

    def drain(self) -> int:
        """Hand every block the kernel handed over to the sink, now; return how many."""
        if self._ring is None:
            return 0
        now = self._clock()
        return self._ring.drain(self._sink, now, self._wall() - now)

    def hold(self) -> None:
        """Stop reading when the ring is readable: the caller drains it (often enough for
        the ring to hold what comes meanwhile) until release()."""
        if self._sock is not None and self._loop is not None and not self._held:
            self._loop.remove_reader(self._sock.fileno())
            self._held = True

    def release(self) -> None:
        """Read when the ring is readable again (and drain what is there now)."""
        if self._held and self._sock is not None and self._loop is not None:
            self._loop.add_reader(self._sock.fileno(), self._on_readable)
            self._held = False
            self.drain()

    def poll_stats(self) -> CaptureStats:
        """Add the kernel's counters since the last poll (tp_drops: the ring was full)."""
        if self._sock is not None:
            try:
                raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS_V3.size)
            except OSError:
                return self.stats
            packets, drops, freezes = _STATS_V3.unpack(raw)
            self.stats.kernel_packets += packets
            self.stats.kernel_drops += drops
            self.stats.kernel_freezes += freezes
        return self.stats

    def close(self) -> None:
        """Stop reading; unmap and close (idempotent)."""
        if self._sock is None:
            return
        self.poll_stats()
        if self._loop is not None and not self._held:
            self._loop.remove_reader(self._sock.fileno())
        if self._ring is not None:
            self._ring.close()
        if self._map is not None:
            self._map.close()
        self._sock.close()
        self._sock = self._map = self._ring = None
        self._held = False
