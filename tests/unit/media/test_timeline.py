"""The per-leg RTP timeline: slin byte order, placement by RTP time, loss, re-anchoring."""

from __future__ import annotations

import pytest

from edgeqa.media.jitter import RESYNC_GAP_PACKETS
from edgeqa.media.rtp import PT_SLIN16, RtpPacket
from edgeqa.media.slin import be16_to_le
from edgeqa.media.timeline import MAX_AHEAD_S, LegStream, StreamStats

FRAME_BYTES = 640  # 20 ms of slin16


def _pkt(seq: int, ts: int, payload: bytes = bytes(FRAME_BYTES), ssrc: int = 7,
         pt: int = PT_SLIN16) -> RtpPacket:
    return RtpPacket(pt, False, seq % 65536, ts % (1 << 32), ssrc, (), None, payload)


def test_be16_to_le() -> None:
    assert be16_to_le(b"\x01\x02\xff\xfe") == b"\x02\x01\xfe\xff"
    with pytest.raises(ValueError, match="3 bytes"):
        be16_to_le(b"abc")


def test_stream_anchors_on_arrival_and_follows_rtp_time() -> None:
    stream = LegStream()
    first = stream.push(_pkt(100, 320, b"\x00\x01" * 320), 1.03)
    assert [(a.t_s, a.pcm[:2], a.lost) for a in first] == [(1.0, b"\x01\x00", False)]
    # Later packets are placed by timestamp, whatever their arrival jitter.
    assert [a.t_s for a in stream.push(_pkt(101, 640), 1.09)] == [1.02]
    assert stream.push(_pkt(103, 1280), 1.10) == []  # 102 missing: held
    assert [a.t_s for a in stream.push(_pkt(102, 960), 1.11)] == [1.04, 1.06]


def test_stream_wraps_timestamp_and_sequence() -> None:
    stream = LegStream()
    ts0 = (1 << 32) - 640
    times = [a.t_s for i in range(4) for a in stream.push(_pkt(65534 + i, ts0 + 320 * i), 0.5)]
    assert times == [0.48, 0.5, 0.52, 0.54]


def test_stream_loss_is_placed_silence() -> None:
    stream = LegStream(depth_packets=2)
    out = [a for i in (0, 2, 3, 4) for a in stream.push(_pkt(i, 320 * i, b"\x01" * 640), 0.1)]
    assert [(a.t_s, a.lost) for a in out] == [(0.08, False), (0.1, True), (0.12, False),
                                               (0.14, False), (0.16, False)]
    assert out[1].pcm == bytes(FRAME_BYTES)


def test_stream_drops_foreign_payloads_and_reanchors() -> None:
    stream = LegStream()
    assert stream.push(_pkt(1, 0, pt=0), 1.0) == [] and stream.stats.wrong_payload_type == 1
    assert stream.push(_pkt(1, 0, b"abc"), 1.0) == [] and stream.stats.odd_payload == 1
    stream.push(_pkt(1, 0), 1.0)
    jump = int((MAX_AHEAD_S + 5) * 16000)
    assert [a.t_s for a in stream.push(_pkt(2, jump), 1.1)] == [1.08]
    assert stream.stats.reanchors == 1
    assert [a.t_s for a in stream.push(_pkt(9, 0, ssrc=8), 3.0)] == [2.98]
    assert stream.stats.ssrc_changes == 1


@pytest.mark.parametrize("ts_after", ["consistent", "jumped_back_too", "unrelated"])
def test_a_sequence_jump_back_restarts_the_stream_at_its_arrival(ts_after: str) -> None:
    # Issue 9: a jump back of 5,000 with the same SSRC dropped all that followed.
    stream = LegStream(depth_packets=3)
    placed = [a for i in range(100)
              for a in stream.push(_pkt(10_000 + i, 320 * i), 1.02 + 0.02 * i)]
    assert placed[-1].t_s == pytest.approx(2.98)
    ts0 = {"consistent": 320 * 100, "jumped_back_too": 320 * 100 - 5_000 * 320 // 4,
           "unrelated": 123_456_789}[ts_after]
    after = [a for i in range(3_000)
             for a in stream.push(_pkt(5_000 + i, ts0 + 320 * i), 3.02 + 0.02 * i)]
    assert stream.stats.restarts == 1 and stream.stats.reanchors == 0
    assert stream.jitter.stats.late == 0 and len(after) == 3_000
    assert [a.t_s for a in after[:2]] == [3.0, 3.02]
    assert after[-1].t_s == pytest.approx(3.0 + 0.02 * 2_999)
    assert not any(a.lost for a in after)


def test_a_restart_releases_what_was_held_on_the_old_anchor() -> None:
    stream = LegStream(depth_packets=3)
    stream.push(_pkt(100, 0), 0.02)
    assert stream.push(_pkt(102, 640), 0.06) == []  # 101 missing: 102 held
    out = stream.push(_pkt(100 + RESYNC_GAP_PACKETS + 1, 9_999), 10.0)
    assert [(a.t_s, a.lost) for a in out] == [(0.02, True), (0.04, False), (9.98, False)]
    assert stream.stats.restarts == 1


def test_shared_stats() -> None:
    stats = StreamStats()
    a, b = LegStream(stats=stats), LegStream(stats=stats)
    a.push(_pkt(1, 0), 1.0)
    b.push(_pkt(1, 0), 1.0)
    assert stats.packets == 2
