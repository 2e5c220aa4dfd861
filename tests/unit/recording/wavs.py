"""Small WAV files made the way Asterisk leaves them (closed, or still open)."""

from __future__ import annotations

import io
import struct
import wave


def closed_wav(n_samples: int = 800, rate_hz: int = 8000) -> bytes:
    """A closed mono 16-bit PCM WAV: its RIFF and data sizes written."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(b"\x01\x00" * n_samples)
    return buf.getvalue()


def open_wav(n_samples: int = 800) -> bytes:
    """The same file as Asterisk leaves it before closing it: RIFF and data sizes 0."""
    data = bytearray(closed_wav(n_samples))
    struct.pack_into("<I", data, 4, 0)
    struct.pack_into("<I", data, 40, 0)
    return bytes(data)


def mono_wav(pcm: bytes, rate_hz: int = 8000, codec: str = "pcm16") -> bytes:
    """A closed mono WAV holding ``pcm`` (already encoded for ``codec``: pcm16, ulaw or alaw)."""
    tag, width = {"pcm16": (1, 2), "ulaw": (7, 1), "alaw": (6, 1)}[codec]
    fmt = struct.pack("<HHIIHH", tag, 1, rate_hz, rate_hz * width, width, 8 * width)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" \
        + struct.pack("<I", len(pcm)) + pcm + (b"\0" if len(pcm) & 1 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body
