"""RTP parsing (RFC 3550 §5.1): whole, byte by byte truncated, trailing data, fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edgeqa.media.rtp import (
    MAX_DATAGRAM_BYTES,
    PT_SLIN16,
    RtpError,
    RtpExtension,
    RtpPacket,
    build_rtp,
    parse_rtp,
)

# An Asterisk externalMedia slin16 packet as received: V=2, PT 118, 640 bytes of payload.
SLIN_HEADER = bytes.fromhex("80 76 80a8 00000140 1bb2c0d7")
SLIN_PAYLOAD = bytes(range(256)) * 2 + bytes(128)
RICH = RtpPacket(payload_type=0, marker=True, sequence=0xFFFF, timestamp=0xFFFFFFFF,
                 ssrc=0x01020304, csrcs=(0xA, 0xB), extension=RtpExtension(0xBEDE, b"\x01" * 8),
                 payload=b"hello world!", padding_bytes=0)


def test_asterisk_slin16_packet_whole() -> None:
    packet = parse_rtp(SLIN_HEADER + SLIN_PAYLOAD)
    assert packet == RtpPacket(PT_SLIN16, False, 0x80A8, 320, 0x1BB2C0D7, (), None,
                               SLIN_PAYLOAD, 0)
    assert build_rtp(packet) == SLIN_HEADER + SLIN_PAYLOAD


def test_csrc_extension_marker_round_trip() -> None:
    raw = build_rtp(RICH)
    assert raw[0] == 0x80 | 0x10 | 2 and raw[1] == 0x80
    assert parse_rtp(raw) == RICH


def test_padding_is_removed() -> None:
    raw = bytes([SLIN_HEADER[0] | 0x20]) + SLIN_HEADER[1:] + b"abcd" + b"\x00\x00\x03"
    packet = parse_rtp(raw)
    assert packet.payload == b"abcd" and packet.padding_bytes == 3


def _reason(data: bytes) -> str:
    with pytest.raises(RtpError) as info:
        parse_rtp(data)
    return info.value.reason


def test_byte_by_byte_truncation_gives_the_exact_error() -> None:
    raw = build_rtp(RICH)
    csrc_end, ext_head_end, ext_end = 12 + 8, 12 + 8 + 4, 12 + 8 + 4 + 8
    for n in range(len(raw)):
        cut = raw[:n]
        if n < 12:
            assert _reason(cut) == "truncated_header", n
        elif n < csrc_end:
            assert _reason(cut) == "truncated_csrc", n
        elif n < ext_end:
            assert _reason(cut) == "truncated_extension", n
            assert str(RtpError("truncated_extension", "x")) == "truncated_extension: x"
        else:  # a shorter payload is still a packet: a datagram carries no payload length
            assert parse_rtp(cut).payload == RICH.payload[:n - ext_end], n
    assert ext_head_end < ext_end


def test_trailing_data_is_payload_unless_padded() -> None:
    raw = build_rtp(RICH)
    assert parse_rtp(raw + b"xyz").payload == RICH.payload + b"xyz"
    padded = build_rtp(RtpPacket(0, False, 1, 2, 3, (), None, b"ab", 2))
    assert parse_rtp(padded).payload == b"ab"
    # Trailing bytes move the count octet: 'z' (122) is more padding than there are bytes.
    assert _reason(padded + b"z") == "bad_padding"
    assert parse_rtp(padded + b"\x01").payload == b"ab\x00\x02"


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x00" * (MAX_DATAGRAM_BYTES + 1), "too_large"),
    (b"", "truncated_header"),
    (bytes([0x40]) + bytes(11), "bad_version"),
    (bytes([0x00]) + bytes(11), "bad_version"),
    (bytes([0xC0]) + bytes(11), "bad_version"),
    (bytes([0x80, 0xC8]) + bytes(26), "rtcp"),  # an RTCP sender report (PT 200)
    (bytes([0xA0, 0x00]) + bytes(10) + b"\x00", "bad_padding"),  # padding count 0
    (bytes([0xA0, 0x00]) + bytes(10) + b"\x02", "bad_padding"),  # more than is there
    (bytes([0x8F, 0x00]) + bytes(10 + 59), "truncated_csrc"),
])
def test_malformed(data: bytes, reason: str) -> None:
    assert _reason(data) == reason


def test_size_is_checked_before_anything_else() -> None:
    assert _reason(b"\xff" * 2000) == "too_large"
    assert parse_rtp(SLIN_HEADER + SLIN_PAYLOAD, max_datagram_bytes=652).payload == SLIN_PAYLOAD
    with pytest.raises(RtpError, match="too_large: 652 bytes > 651"):
        parse_rtp(SLIN_HEADER + SLIN_PAYLOAD, max_datagram_bytes=651)


@given(st.binary(max_size=MAX_DATAGRAM_BYTES + 20))
@example(b"\x80" + bytes(11))
@example(b"\xbf" + bytes(70))
@example(b"\x90\x00" + bytes(10) + b"\x00\x00\xff\xff")
def test_fuzz_only_our_error_comes_out(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError as exc:
        assert exc.reason in {"too_large", "truncated_header", "bad_version", "rtcp",
                              "truncated_csrc", "truncated_extension", "bad_padding"}
    else:
        assert len(packet.payload) <= len(data) - 12
        assert 0 <= packet.sequence < 1 << 16 and 0 <= packet.payload_type < 128


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127).filter(lambda pt: not 72 <= pt <= 76),
    marker=st.booleans(), sequence=st.integers(0, 0xFFFF), timestamp=st.integers(0, 2**32 - 1),
    ssrc=st.integers(0, 2**32 - 1), csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15).map(
        tuple),
    extension=st.none() | st.builds(RtpExtension, st.integers(0, 0xFFFF),
                                    st.binary(max_size=64).map(lambda b: b[:len(b) // 4 * 4])),
    payload=st.binary(max_size=700), padding_bytes=st.integers(0, 255))


@given(packets)
def test_build_then_parse_round_trips(packet: RtpPacket) -> None:
    assert parse_rtp(build_rtp(packet)) == packet


@pytest.mark.parametrize("packet", [
    RtpPacket(118, True, 65535, (1 << 32) - 1, 9, (), None, b"\x01\x02" * 320),
    RtpPacket(0, False, 1, 2, 3, (4, 5), RtpExtension(0xBEDE, b"abcd"), b"xy", 3)])
def test_a_reused_receive_buffer_never_leaks_into_a_packet(packet: RtpPacket) -> None:
    buf = bytearray(MAX_DATAGRAM_BYTES + 1)
    data = build_rtp(packet)
    buf[:len(data)] = data
    got = parse_rtp(memoryview(buf)[:len(data)])
    buf[:] = bytes(len(buf))  # the next datagram
    assert got == packet and type(got.payload) is bytes
