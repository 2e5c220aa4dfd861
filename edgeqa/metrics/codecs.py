"""G.711 and linear PCM as the metrics see them: decoding and each codec's maximum."""

from __future__ import annotations

from typing import Literal

from edgeqa.metrics import kernels

Codec = Literal["pcm16", "ulaw", "alaw"]
CODECS: tuple[Codec, ...] = ("pcm16", "ulaw", "alaw")

#: Largest magnitude each codec can produce (spec: codec_max).
CODEC_MAX: dict[Codec, int] = {"pcm16": 32767, "ulaw": 32124, "alaw": 32256}
#: Bytes per sample of each codec on the wire or in a WAV file.
CODEC_BYTES: dict[Codec, int] = {"pcm16": 2, "ulaw": 1, "alaw": 1}


def clip_level(codec: Codec) -> int:
    """Return the smallest |x| that counts as clipped: ceil(0.99 * codec_max)."""
    return (99 * CODEC_MAX[codec] + 99) // 100


def decode(codec: Codec, data: bytes | bytearray | memoryview) -> bytes:
    """Return int16 LE PCM for ``data`` in ``codec`` (a copy for pcm16, trailing odd byte cut)."""
    if codec == "ulaw":
        return kernels.ulaw_decode(data)
    if codec == "alaw":
        return kernels.alaw_decode(data)
    raw = bytes(data)
    return raw[: len(raw) & ~1]
