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
