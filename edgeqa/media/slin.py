"""Signed linear PCM byte order: Asterisk's RTP slin is big-endian, the metrics want LE."""

from __future__ import annotations

import sys
from array import array


def be16_to_le(payload: bytes | bytearray | memoryview) -> bytes:
    """Return big-endian int16 PCM as little-endian; an odd trailing byte is an error."""
    if len(payload) % 2:
        raise ValueError(f"slin payload of {len(payload)} bytes is not whole samples")
    samples = array("h", bytes(payload))
    if sys.byteorder == "little":
        samples.byteswap()
    return samples.tobytes()
