"""The per-leg RTP timeline: slin byte order, placement by RTP time, loss, re-anchoring."""

from __future__ import annotations

import pytest

from edgeqa.media.rtp import PT_SLIN16, RtpPacket
from edgeqa.media.slin import be16_to_le
from edgeqa.media.timeline import MAX_AHEAD_S, LegStream

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
