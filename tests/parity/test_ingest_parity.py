"""The compiled ingest engine equals the reference, and the reference equals LegStream.

Without the extension (EDGEQA_NO_EXTENSIONS=1) the tests that need no comparison with it
still run on the reference: LegStream equality, capture blocks, bad input, the socket drain.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeqa.media import engine, ingest
from edgeqa.media.rtp import RtpPacket, build_rtp
from edgeqa.media.timeline import CODEC_PT, CODEC_RATE, LegStream, PlacedAudio, WireCodec

c_ingest: Any = None
if engine.EXTENSIONS_WANTED:
    from edgeqa.media import _ingest_c as c_ingest  # type: ignore[attr-defined,no-redef]
needs_c = pytest.mark.skipif(c_ingest is None, reason="EDGEQA_NO_EXTENSIONS=1: no extension")

HOST = b"\x7f\x00\x00\x01"
OTHER = b"\x7f\x00\x00\x02"
PORT = 5004
OFFSET = 100.0
CODECS: list[WireCodec] = ["slin16", "slin", "ulaw", "alaw"]


def _engines(depth: int = 5, legs: int = 4) -> list[Any]:
    """The reference, then the compiled engine if built."""
    return [ingest.Ingest(legs, depth), *([c_ingest.Ingest(legs, depth)] if c_ingest else [])]


def _same(results: list[Any]) -> Any:
    """Every engine's results are the reference's; return those."""
    for other in results[1:]:
        assert other == results[0]
    return results[0]


# One step of a leg's life: ("pkt", offsets, ts_step, ssrc_change, pt_wrong, size, dt,
# host_ok): packets at sequence base + each offset (reorder, duplicates, loss, late, jumps),
# then the base moves on by the largest offset; or ("take",), ("flush",), ("reset",),
# ("pause", bool), ("junk", bytes).
_OFFSETS = [(1,)] * 14 + [
    (2,), (3,), (2, 1), (3, 1, 2), (2, 2, 1), (3, 2, 2, 1), (4, 2, 3, 1), (0,), (-3,), (7,),
    (12, 11, 10), (1, 1), (1500,), (-1500,), (40000,), (-30000,), (999,), (-999,)]
_packet = st.tuples(
    st.just("pkt"),
    st.sampled_from(_OFFSETS),
    st.sampled_from([None] * 12 + [0, 1, -160, 8000, 200_000, -200_000, 1 << 31]),
    st.sampled_from([False] * 30 + [True]),
    st.sampled_from([False] * 30 + [True]),
    st.sampled_from([160] * 30 + [320, 640, 640, 0, 1, 3, 1488, 80]),
    st.sampled_from([0.02] * 40 + [0.0, 0.005, 0.04, 0.1, 1.5, 3.0, -0.01]),
    st.sampled_from([True] * 30 + [False]),
)
_step = st.one_of(
    *[_packet] * 12,
    st.just(("take",)), st.just(("flush",)), st.just(("reset",)),
    st.tuples(st.just("pause"), st.sampled_from([False, False, False, True])),
    st.tuples(st.just("junk"), st.binary(max_size=40)),
)


def _packets(codec: WireCodec, step: tuple[Any, ...], seq: int, ts: int,
             ssrc: int) -> tuple[list[RtpPacket], int, int, int]:
    """The packets of one "pkt" step, and the sequence, timestamp and SSRC after it."""
    _, offsets, dts, new_ssrc, wrong, size, _, _ = step
    samples = max(size // (2 if codec in ("slin16", "slin") else 1), 1)
    if dts is not None:
        ts += dts
    ssrc = ssrc + 1 if new_ssrc else ssrc
    pt = 96 if CODEC_PT[codec] is None else CODEC_PT[codec]
    out = []
    for o in offsets:
        payload = bytes((i * 37 + seq + o) % 256 for i in range(size))
        out.append(RtpPacket(pt + 1 if wrong else pt, False, (seq + o) % 65536,
                             (ts + o * samples) % (1 << 32), ssrc, (), None, payload))
    top = max(offsets)
    return out, (seq + top) % 65536, (ts + top * samples) % (1 << 32), ssrc


def _play(codec: WireCodec, steps: list[tuple[Any, ...]], seq0: int, ts0: int,
          depth: int) -> tuple[list[Any], list[Any]]:
    """Run ``steps`` through both engines; return everything each one output, in order."""
    r, c = _engines(depth)
    outs: tuple[list[Any], list[Any]] = ([], [])
    slots = [e.open_leg(HOST, PORT, codec, OFFSET) for e in (c, r)]
    seq, ts, ssrc, now = seq0, ts0, 77, OFFSET + 5.0
    for step in steps:
        if step[0] == "pkt":
            packets, seq, ts, ssrc = _packets(codec, step, seq, ts, ssrc)
            now += step[6]
            for packet in packets:
                for e in (c, r):
                    e.feed(build_rtp(packet), HOST if step[7] else OTHER, PORT, now)
        else:
            for e, slot, out in zip((c, r), slots, outs, strict=True):
                if step[0] == "take":
                    out.append(e.take(slot))
                elif step[0] == "flush":
                    out.append(e.flush(slot))
                elif step[0] == "reset":
                    e.reset(slot)
                elif step[0] == "pause":
                    e.set_paused(slot, step[1])
                else:
                    e.feed(step[1], HOST, PORT, now)
    for e, slot, out in zip((c, r), slots, outs, strict=True):
        out.append(e.flush(slot))
        out.append(e.leg_stats(slot))
        e.close_leg(slot)
        out.append(e.stats())
    return outs


@needs_c
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(codec=st.sampled_from(CODECS), steps=st.lists(_step, min_size=10, max_size=160),
       seq0=st.integers(0, 65535), ts0=st.integers(0, (1 << 32) - 1),
       depth=st.sampled_from([1, 3, 5, 16]))
def test_compiled_engine_equals_reference(codec: WireCodec, steps: list[tuple[Any, ...]],
                                          seq0: int, ts0: int, depth: int) -> None:
    c_out, r_out = _play(codec, steps, seq0, ts0, depth)
    assert c_out == r_out
    _accounted(r_out[-1])


def _expand(placed: list[PlacedAudio], rate: int) -> tuple[list[float], list[int], list[bool]]:
    """Per sample: its call time, its value (as an int), lost."""
    times, values, lost = [], [], []
    for p in placed:
        for i in range(len(p.pcm) // 2):
            times.append(p.t_s + i / rate)
            values.append(p.pcm[2 * i] | p.pcm[2 * i + 1] << 8)
            lost.append(p.lost)
    return times, values, lost


@settings(max_examples=200, deadline=None)
@given(codec=st.sampled_from(CODECS), steps=st.lists(_packet, min_size=10, max_size=150),
       seq0=st.integers(0, 65535), ts0=st.integers(0, (1 << 32) - 1))
def test_reference_equals_legstream(codec: WireCodec, steps: list[tuple[Any, ...]],
                                    seq0: int, ts0: int) -> None:
    """Fed the same packets at the same times, the engine places what LegStream places
    (the engine merges contiguous frames: compared sample by sample)."""
    rate = CODEC_RATE[codec]
    for eng in _engines(5, 2):
        stream = LegStream(rate, CODEC_PT[codec], 5, codec=codec)
        slot = eng.open_leg(b"", PORT, codec, OFFSET)
        seq, ts, ssrc, now = seq0, ts0, 5, OFFSET + 3.0
        want: list[PlacedAudio] = []
        got: list[PlacedAudio] = []
        for step in steps:
            packets, seq, ts, ssrc = _packets(codec, step, seq, ts, ssrc)
            now = max(now + step[6], OFFSET)
            for packet in packets:
                want += stream.push(packet, now - OFFSET)
                eng.feed(build_rtp(packet), OTHER, PORT, now)
            got += eng.take(slot)
        want += stream.flush()
        got += eng.flush(slot)
        if eng.leg_stats(slot)["held_dropped"]:  # over MAX_HELD_S between two takes
            continue
        got_t, got_v, got_lost = _expand(got, rate)
        want_t, want_v, want_lost = _expand(want, rate)
        assert (got_v, got_lost) == (want_v, want_lost)
        assert got_t == pytest.approx(want_t, abs=2e-6)  # rounded per frame vs per piece
        stats = eng.leg_stats(slot)
        assert (stats["restarts"], stats["reanchors"], stats["ssrc_changes"]) == (
            stream.stats.restarts, stream.stats.reanchors, stream.stats.ssrc_changes)


# --- capture blocks ----------------------------------------------------------------------------

def _ipv4(dst: bytes, dport: int, payload: bytes, proto: int = 17, frag: int = 0,
          ihl: int = 5, udp_len: int | None = None, total: int | None = None) -> bytes:
    udp = struct.pack("!HHHH", 40000, dport, udp_len if udp_len is not None
                      else 8 + len(payload), 0) + payload
    options = bytes(max(0, 4 * (ihl - 5)))
    length = total if total is not None else 4 * ihl + len(udp)
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, 0, frag, 64, proto, 0,
                       b"\x0a\x00\x00\x01", dst) + options + udp


def _ipv6(dst: bytes, dport: int, payload: bytes, next_header: int = 17) -> bytes:
    udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
    return struct.pack("!IHBB16s16s", 6 << 28, len(udp), next_header, 64, bytes(16),
                       dst) + udp


def block(frames: list[bytes], *, snap_cut: int = 0, num_pkts: int | None = None,
          mac: int = 48, net: int | None = None, last_next: int = 0,
          stamps: list[tuple[int, int]] | None = None) -> bytes:
    """A TPACKET_V3 block: tpacket_block_desc, then tpacket3_hdr + packet per frame (with
    ``stamps``: each frame's kernel time, tp_sec and tp_nsec; else none)."""
    body = b""
    offset = ingest.BLOCK_DESC_BYTES
    for i, frame in enumerate(frames):
        snap = max(0, len(frame) - snap_cut)
        at = max(mac, 48)  # where the packet is (mac: what the header says)
        size = (at + len(frame) + 15) // 16 * 16
        nxt = size if i + 1 < len(frames) else last_next
        sec, nsec = stamps[i] if stamps is not None else (0, 0)
        hdr = struct.pack("=IIIIIIHH", nxt, sec, nsec, snap, len(frame), 1, mac,
                          mac if net is None else net)
        body += (hdr + bytes(at - len(hdr)) + frame).ljust(size, b"\x00")
    desc = struct.pack("=IIIIII", 3, 0, 1, len(frames) if num_pkts is None else num_pkts,
                       offset, offset + len(body)).ljust(ingest.BLOCK_DESC_BYTES, b"\x00")
    return desc + body


def _rtp(seq: int, size: int = 160, pt: int = 0) -> bytes:
    return build_rtp(RtpPacket(pt, False, seq, 160 * seq, 9, (), None,
                               bytes((seq + i) % 256 for i in range(size))))


V6 = bytes(15) + b"\x01"


def test_feed_block_routes_by_destination_and_counts_the_rest() -> None:
    frames = [
        _ipv4(HOST, PORT, _rtp(1)), _ipv6(V6, 6000, _rtp(1)),
        _ipv4(HOST, PORT, _rtp(2)), _ipv6(V6, 6000, _rtp(2)),
        _ipv4(HOST, PORT, _rtp(3), proto=6),             # TCP
        _ipv4(HOST, PORT, _rtp(3), frag=0x2000),         # a fragment (MF)
        _ipv4(HOST, PORT, _rtp(3), ihl=4),               # bad IHL
        _ipv4(HOST, PORT, _rtp(3), ihl=7),               # options: fine
        _ipv4(HOST, PORT, _rtp(4), udp_len=4),           # UDP length too small
        _ipv4(HOST, PORT, _rtp(4), total=2000),          # IP length beyond the frame
        _ipv6(V6, 6000, _rtp(3), next_header=0),         # extension header
        _ipv4(OTHER, PORT, _rtp(4)),                     # another host: not ours
        b"\x00" * 30,                                    # not IP
    ]
    results = []
    for eng in _engines():
        a = eng.open_leg(HOST, PORT, "ulaw", OFFSET)
        b = eng.open_leg(V6, 6000, "ulaw", OFFSET)
        assert eng.feed_block(memoryview(block(frames)), OFFSET + 1.0) == len(frames)
        results.append((eng.flush(a), eng.flush(b), eng.stats()))
    placed_a, placed_b, stats = _same(results)
    assert [len(p.pcm) for p in placed_a] == [960] and [len(p.pcm) for p in placed_b] == [640]
    assert stats["frames"] == 13 and stats["frames_not_udp"] == 3
    assert stats["fragments"] == 1 and stats["frames_truncated"] == 3
    assert stats["unrouted"] == 1 and stats["routed"] == 5 and stats["received"] == 5


WALL = 1_796_000_000.0  # the wall clock minus the loop's (the loop's clock starts near 0)


@pytest.mark.parametrize(("stamps", "offset", "arrived"), [
    # Each frame arrived at its kernel time, whenever the block was read (here at 151.0).
    ([(1_796_000_150, 0), (1_796_000_150, 20_000_000)], WALL, 150.0),
    ([(1_796_000_150, 500_000_000), (1_796_000_150, 520_000_000)], WALL, 150.5),
    # No offset, or frames without a time: the block's reading.
    ([(1_796_000_150, 0), (1_796_000_150, 20_000_000)], None, 151.0),
    ([(0, 0), (0, 0)], WALL, 151.0),
    # A time after the reading is the reading; one far before, MAX_FRAME_AGE_S before it.
    ([(1_796_000_170, 0), (1_796_000_170, 20_000_000)], WALL, 151.0),
    ([(1_795_999_000, 0), (1_795_999_000, 20_000_000)], WALL, 151.0 - ingest.MAX_FRAME_AGE_S),
])
def test_feed_block_places_each_frame_at_its_kernel_time(
        stamps: list[tuple[int, int]], offset: float | None, arrived: float) -> None:
    data = block([_ipv4(HOST, PORT, _rtp(1)), _ipv4(HOST, PORT, _rtp(2))], stamps=stamps)
    results = []
    for eng in _engines():
        slot = eng.open_leg(HOST, PORT, "ulaw", OFFSET)
        assert eng.feed_block(data, 151.0, offset) == 2
        results.append((eng.flush(slot), eng.stats()))
    placed, _ = _same(results)
    # One run of both frames, anchored where the first one's audio began (on the 20 ms grid).
    assert [len(p.pcm) for p in placed] == [640]
    assert placed[0].t_s == pytest.approx(round((arrived - OFFSET - 0.02) / 0.02) * 0.02,
                                          abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(sec=st.integers(0, 2**32 - 1), nsec=st.integers(0, 2**32 - 1),
       offset=st.one_of(st.none(), st.floats(-2e9, 2e9)), now=st.floats(0.0, 1e6))
def test_frame_time_equals_reference(sec: int, nsec: int, offset: float | None,
                                     now: float) -> None:
    data = block([_ipv4(HOST, PORT, _rtp(1))], stamps=[(sec, nsec)])
    results = []
    for eng in _engines():
        eng.open_leg(HOST, PORT, "ulaw", 0.0)
        eng.feed_block(data, now, offset)
        results.append(eng.leg_stats(0)["last_arrival_ms"])
    arrival = _same(results)
    assert arrival == int(ingest.frame_time(sec, nsec, now, offset) * 1000)


@pytest.mark.parametrize("kwargs", [
    {"snap_cut": 30}, {"num_pkts": 9}, {"mac": 20}, {"net": 40}, {"last_next": 4096},
    {"num_pkts": 0},
])
def test_feed_block_bad_frames_are_counted_never_raise(kwargs: dict[str, Any]) -> None:
    data = block([_ipv4(HOST, PORT, _rtp(1)), _ipv4(HOST, PORT, _rtp(2))], **kwargs)
    results = []
    for eng in _engines():
        slot = eng.open_leg(HOST, PORT, "alaw", OFFSET)
        walked = eng.feed_block(data, OFFSET + 1.0)
        results.append((walked, eng.flush(slot), eng.stats()))
    _same(results)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), cut=st.integers(0, 400))
def test_feed_block_on_garbage_equals_reference(data: bytes, cut: int) -> None:
    good = block([_ipv4(HOST, PORT, _rtp(1)), _ipv6(V6, 6000, _rtp(2))])
    spliced = good[:cut] + data
    results = []
    for eng in _engines():
        eng.open_leg(HOST, PORT, "ulaw", OFFSET)
        eng.open_leg(V6, 6000, "slin", OFFSET)
        results.append((eng.feed_block(spliced, OFFSET), eng.feed_block(data, OFFSET),
                        eng.stats()))
    walked_a, walked_b, stats = _same(results)
    _accounted(stats)
    assert stats["frames"] == walked_a + walked_b


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=1600), host=st.sampled_from([HOST, OTHER, b"", V6]),
       port=st.sampled_from([PORT, 1, 0, 65535, 70000, -1]))
def test_feed_on_garbage_equals_reference(data: bytes, host: bytes, port: int) -> None:
    results = []
    for eng in _engines():
        slot = eng.open_leg(HOST, PORT, "slin16", OFFSET)
        eng.feed(data, host, port, OFFSET + 1.0)
        results.append((eng.flush(slot), eng.stats()))
    _, stats = _same(results)
    assert stats["datagrams"] == 1
    _accounted(stats)


def _accounted(stats: dict[str, int]) -> None:
    """Every datagram is counted once: too large, unrouted or routed; every routed one is
    dropped while paused, malformed, or a packet of its leg's stream."""
    assert stats["datagrams"] == stats["too_large"] + stats["unrouted"] + stats["routed"]
    assert stats["routed"] == stats["paused_dropped"] + stats["malformed"] + stats["packets"]


def test_recv_drains_a_socket_like_the_reference() -> None:
    results = []
    for eng in _engines():
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        rx.bind(("127.0.0.1", 0))
        rx.setblocking(False)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.bind(("127.0.0.1", 0))
        slot = eng.open_leg(HOST, tx.getsockname()[1], "slin16", OFFSET)
        for seq in range(45):
            tx.sendto(build_rtp(RtpPacket(118, False, seq, 320 * seq, 3, (), None,
                                          bytes([seq]) * 640)), rx.getsockname())
        tx.sendto(b"x" * 1600, rx.getsockname())  # too large
        tx.sendto(b"\x80", rx.getsockname())  # malformed
        got = [eng.recv(rx.fileno(), OFFSET + 1.0, 30) for _ in range(3)]
        results.append((got, eng.flush(slot), eng.stats()))
        rx.close()
        tx.close()
    got, placed, stats = _same(results)
    assert got == [30, 17, 0]
    assert len(placed) == 1 and len(placed[0].pcm) == 45 * 640
    assert stats["too_large"] == 1 and stats["malformed"] == 1
