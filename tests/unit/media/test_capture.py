"""The capture adapter's pure parts: the BPF program, ring sizing, the block ownership walk; and,
on Linux as root, the kernel running the same program into a real ring."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
import time

import pytest

from edgeqa.media import capture
from edgeqa.media.capture import (
    BLOCK_STATUS_OFFSET,
    ETH_P_IP,
    ETH_P_IPV6,
    PACKET_HOST,
    TP_STATUS_KERNEL,
    TP_STATUS_USER,
    BlockRing,
    CaptureUnavailable,
    RingLimits,
    RtpCapture,
    assemble,
    rtp_filter,
    run_filter,
)
from tests.support.unavailable import unavailable

PACKET_OUTGOING = 4


def ipv4_udp(dport: int, payload: bytes = b"\x80" + bytes(171), *, proto: int = 17,
             frag: int = 0, options: bytes = b"") -> bytes:
    ihl = (20 + len(options)) // 4
    total = 20 + len(options) + 8 + len(payload)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, frag, 64, proto, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + options
    return header + struct.pack("!HHHH", 5000, dport, 8 + len(payload), 0) + payload


def ipv6_udp(dport: int, payload: bytes = bytes(172), *, next_header: int = 17) -> bytes:
    header = struct.pack("!IHBB16s16s", 6 << 28, 8 + len(payload), next_header, 64,
                         bytes(15) + b"\x01", bytes(15) + b"\x01")
    return header + struct.pack("!HHHH", 5000, dport, 8 + len(payload), 0) + payload


PROGRAM = rtp_filter(10000, 20000)


@pytest.mark.parametrize("packet,pkttype,protocol,kept", [
    (ipv4_udp(10000), PACKET_HOST, ETH_P_IP, True),
    (ipv4_udp(20000), PACKET_HOST, ETH_P_IP, True),
    (ipv4_udp(15000, options=bytes(8)), PACKET_HOST, ETH_P_IP, True),   # X: header length
    (ipv4_udp(15000), PACKET_OUTGOING, ETH_P_IP, False),  # lo's outgoing copy
    (ipv4_udp(9999), PACKET_HOST, ETH_P_IP, False),
    (ipv4_udp(20001), PACKET_HOST, ETH_P_IP, False),
    (ipv4_udp(15000, proto=6), PACKET_HOST, ETH_P_IP, False),
    (ipv4_udp(15000, frag=0x2000), PACKET_HOST, ETH_P_IP, False),  # more fragments
    (ipv4_udp(15000, frag=0x0010), PACKET_HOST, ETH_P_IP, False),  # a later fragment
    (ipv4_udp(15000, frag=0x4000), PACKET_HOST, ETH_P_IP, True),   # don't fragment
    (ipv6_udp(12000), PACKET_HOST, ETH_P_IPV6, True),
    (ipv6_udp(22000), PACKET_HOST, ETH_P_IPV6, False),
    (ipv6_udp(12000, next_header=0), PACKET_HOST, ETH_P_IPV6, False),  # extension header
    (ipv4_udp(15000), PACKET_HOST, 0x0806, False),  # not IP
])
def test_filter_keeps_received_udp_to_the_rtp_range(packet: bytes, pkttype: int,
                                                    protocol: int, kept: bool) -> None:
    assert (run_filter(PROGRAM, packet, pkttype, protocol) == len(packet)) is kept


def test_filter_program_bytes() -> None:
    code = assemble(PROGRAM)
    assert len(code) == 8 * len(PROGRAM) == 8 * 19
    assert struct.unpack_from("=HBBI", code, 8 * 15) == (0x35, 0, 2, 10000)
    with pytest.raises(ValueError, match="port range"):
        rtp_filter(20000, 10000)


def test_ring_limits() -> None:
    limits = RingLimits()
    assert limits.total_bytes == 128 * 65536
    block, blocks, frame, frames, retire, _, _ = struct.unpack("=7I", limits.request())
    assert (block, blocks, frame, frames, retire) == (65536, 128, 2048, 4096, 20)
    for bad in ({"block_bytes": 1000}, {"blocks": 0}, {"frame_bytes": 100},
                {"retire_ms": 0}):
        with pytest.raises(ValueError):
            RingLimits(**bad)  # type: ignore[arg-type]


SMALL = RingLimits(block_bytes=4096, blocks=4, frame_bytes=2048, retire_ms=10)


def _status(buf: bytearray, index: int) -> int:
    return int(struct.unpack_from("=I", buf, index * 4096 + BLOCK_STATUS_OFFSET)[0])


def _hand_over(buf: bytearray, index: int, tag: int) -> None:
    struct.pack_into("=I", buf, index * 4096 + BLOCK_STATUS_OFFSET, TP_STATUS_USER)
    buf[index * 4096 + 100] = tag


def test_drain_walks_owned_blocks_in_ring_order_and_gives_them_back() -> None:
    buf = bytearray(SMALL.total_bytes)
    ring = BlockRing(buf, SMALL)
    seen: list[int] = []

    def sink(block: memoryview, now: float, wall_minus_loop: float) -> int:
        assert len(block) == 4096 and now == 7.0 and wall_minus_loop == 0.0
        seen.append(block[100])
        return 3

    _hand_over(buf, 0, 10)
    _hand_over(buf, 1, 11)
    _hand_over(buf, 3, 13)  # not next: waits until block 2 is handed over
    assert ring.drain(sink, 7.0) == 2
    assert seen == [10, 11] and [_status(buf, i) for i in range(4)] == [0, 0, 0, 1]
    assert ring.drain(sink, 7.0) == 0
    _hand_over(buf, 2, 12)
    _hand_over(buf, 0, 20)  # wraps around
    assert ring.drain(sink, 7.0) == 3
    assert seen == [10, 11, 12, 13, 20]
    assert all(_status(buf, i) == TP_STATUS_KERNEL for i in range(4))
    assert (ring.stats.blocks, ring.stats.frames, ring.stats.wakeups) == (5, 15, 2)


def test_drain_is_bounded_and_survives_a_failing_sink() -> None:
    buf = bytearray(SMALL.total_bytes)
    ring = BlockRing(buf, SMALL)
    for i in range(4):
        _hand_over(buf, i, i)

    def bad(block: memoryview, now: float, wall_minus_loop: float) -> int:
        raise RuntimeError("boom")

    assert ring.drain(bad, 0.0, max_blocks=3) == 3
    assert ring.stats.sink_errors == 3 and ring.stats.full_wakeups == 1
    assert [_status(buf, i) for i in range(4)] == [0, 0, 0, 1]  # given back all the same
    with pytest.raises(ValueError, match="ring mapping"):
        BlockRing(bytearray(100), SMALL)


def test_unavailable_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(CaptureUnavailable, match="needs Linux"):
        capture.open_socket(1, 2, SMALL)


def test_no_cap_net_raw_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    if capture.capture_supported() is not None:
        pytest.skip("not Linux")

    def refuse(*_: object) -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(capture.socket, "socket", refuse)
    with pytest.raises(CaptureUnavailable, match="needs CAP_NET_RAW"):
        capture.open_socket(1, 2, SMALL)


async def test_the_kernel_keeps_what_the_filter_says() -> None:
    """The real thing (Linux, root): UDP to loopback ports in and out of the range."""
    if capture.capture_supported() is not None or os.geteuid() != 0:
        unavailable("host RTP capture needs Linux and CAP_NET_RAW (root)")
    loop = asyncio.get_running_loop()
    blocks: list[bytes] = []

    offsets: list[float] = []

    def sink(block: memoryview, now: float, wall_minus_loop: float) -> int:
        blocks.append(bytes(block))
        offsets.append(wall_minus_loop)
        return int(struct.unpack_from("=I", block, 12)[0])

    reader = RtpCapture(sink, loop.time, SMALL)
    reader.open(loop, 47100, 47109)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 47105))
        for _ in range(5):
            tx.sendto(b"in", ("127.0.0.1", 47105))
        tx.sendto(b"out", ("127.0.0.1", 47110))
        for _ in range(50):
            if reader.stats.frames >= 5:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        frames = reader.stats.frames
        reader.hold()  # held: the ring wakes no one, the holder drains it
        for _ in range(3):
            tx.sendto(b"held", ("127.0.0.1", 47105))
        await asyncio.sleep(0.1)  # 10 retire periods
        held_frames = reader.stats.frames
        drained = reader.drain()
        after_drain = reader.stats.frames
        reader.release()
    finally:
        stats = reader.poll_stats()
        reader.close()
        rx.close()
        tx.close()
    # Five datagrams, each once (lo's outgoing copies filtered), none to the port outside.
    assert frames == 5 and stats.kernel_packets == 8, stats
    assert stats.kernel_drops == 0
    assert held_frames == 5 and drained >= 1 and after_drain == 8
    # Each frame's kernel time (tp_sec, tp_nsec) is the wall clock: what Ingest.feed_block
    # takes as its arrival, with the reader's wall_minus_loop.
    first = struct.unpack_from("=I", blocks[0], 16)[0]  # offset_to_first_pkt
    sec, nsec = struct.unpack_from("=II", blocks[0], first + 4)
    assert abs(sec + nsec * 1e-9 - time.time()) < 5.0
    assert all(abs(o - (time.time() - loop.time())) < 1.0 for o in offsets)
