"""Sans-I/O RTP packet parsing (RFC 3550 section 5.1): bytes in, an RtpPacket or RtpError out."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

#: Largest datagram accepted, checked before parsing: an Ethernet MTU's worth. Asterisk's
#: externalMedia slin16 packets are 12 + 640 bytes.
MAX_DATAGRAM_BYTES = 1500
RTP_VERSION = 2
HEADER_BYTES = 12
CSRC_BYTES = 4
EXTENSION_HEADER_BYTES = 4
#: The payload type Asterisk uses for slin16 on externalMedia (a dynamic type, RFC 3551 §3).
PT_SLIN16 = 118
#: Version, flags, sequence, timestamp, SSRC (RFC 3550 §5.1), network byte order.
_HEADER = struct.Struct("!BBHII")
#: The first octet of the common case: version 2, no padding, no extension, no CSRC.
_PLAIN_B0 = RTP_VERSION << 6


class RtpError(ValueError):
    """A datagram that is not a valid RTP packet; ``reason`` is a short stable token."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """The header extension (RFC 3550 §5.3.1): a profile-defined id and its data."""

    profile: int
    data: bytes


class RtpPacket(NamedTuple):
    """One parsed RTP packet; ``payload`` excludes the header, extension and padding.

    (A NamedTuple: one is built per packet, and a tuple is the cheapest to build.)
    """

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    csrcs: tuple[int, ...]
    extension: RtpExtension | None
    payload: bytes
    padding_bytes: int = 0


def parse_rtp(data: bytes | bytearray | memoryview,
              max_datagram_bytes: int = MAX_DATAGRAM_BYTES) -> RtpPacket:
    """Parse one whole datagram as RTP; raise RtpError (and nothing else) if it is not one."""
    size = len(data)
    if size > max_datagram_bytes:
        raise RtpError("too_large", f"{size} bytes > {max_datagram_bytes}")
    if size < HEADER_BYTES:
        raise RtpError("truncated_header", f"{size} bytes < {HEADER_BYTES}")
    b0, b1, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if b0 == _PLAIN_B0 and not 72 <= b1 & 0x7F <= 76:
        # The common case (externalMedia's packets): one copy, of the payload.
        return RtpPacket(b1 & 0x7F, b1 > 0x7F, sequence, timestamp, ssrc, (), None,
                         bytes(data[HEADER_BYTES:]))
    buf = bytes(data)
    version = b0 >> 6
    if version != RTP_VERSION:
        raise RtpError("bad_version", f"version {version}")
    padded = bool(b0 & 0x20)
    has_ext = bool(b0 & 0x10)
    csrc_count = b0 & 0x0F
    payload_type = b1 & 0x7F
    if 72 <= payload_type <= 76:
        # RFC 5761 §4: these collide with RTCP packet types 200..204 (an RTCP packet).
        raise RtpError("rtcp", f"payload type {payload_type} is RTCP")
    pos = HEADER_BYTES + CSRC_BYTES * csrc_count
    if size < pos:
        raise RtpError("truncated_csrc", f"{size} bytes < {pos} for {csrc_count} CSRC")
    csrcs = tuple(int.from_bytes(buf[i:i + 4], "big")
                  for i in range(HEADER_BYTES, pos, CSRC_BYTES))
    extension = None
    if has_ext:
        if size < pos + EXTENSION_HEADER_BYTES:
            raise RtpError("truncated_extension",
                           f"{size} bytes < {pos + EXTENSION_HEADER_BYTES} for its header")
        profile = int.from_bytes(buf[pos:pos + 2], "big")
        ext_len = 4 * int.from_bytes(buf[pos + 2:pos + 4], "big")
        pos += EXTENSION_HEADER_BYTES
        if size < pos + ext_len:
            raise RtpError("truncated_extension",
                           f"{size} bytes < {pos + ext_len} for {ext_len} extension bytes")
        extension = RtpExtension(profile, buf[pos:pos + ext_len])
        pos += ext_len
    end = size
    pad = 0
    if padded:
        # RFC 3550 §5.1: the last octet counts the padding octets, itself included.
        pad = buf[-1]
        if pad == 0 or pad > size - pos:
            raise RtpError("bad_padding", f"padding {pad} with {size - pos} bytes after header")
        end = size - pad
    return RtpPacket(payload_type, bool(b1 & 0x80), sequence, timestamp, ssrc,
                     csrcs, extension, buf[pos:end], pad)


def build_rtp(packet: RtpPacket) -> bytes:
    """Serialise ``packet`` (the inverse of parse_rtp; padding is written as zeros + count)."""
    b0 = (RTP_VERSION << 6) | len(packet.csrcs)
    if packet.padding_bytes:
        b0 |= 0x20
    if packet.extension is not None:
        b0 |= 0x10
    out = bytearray([b0, (0x80 if packet.marker else 0) | packet.payload_type])
    out += packet.sequence.to_bytes(2, "big") + packet.timestamp.to_bytes(4, "big")
    out += packet.ssrc.to_bytes(4, "big")
    for csrc in packet.csrcs:
        out += csrc.to_bytes(4, "big")
    if packet.extension is not None:
        ext = packet.extension
        if len(ext.data) % 4:
            raise ValueError("extension data must be a multiple of 4 bytes")
        out += ext.profile.to_bytes(2, "big") + (len(ext.data) // 4).to_bytes(2, "big")
        out += ext.data
    out += packet.payload
    if packet.padding_bytes:
        out += bytes(packet.padding_bytes - 1) + bytes([packet.padding_bytes])
    return bytes(out)
