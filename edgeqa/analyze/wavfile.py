"""WAV reading for `edgeqa analyze`: 16-bit PCM, µ-law or A-law, 8 or 16 kHz, mono or stereo."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edgeqa.metrics.codecs import CODEC_BYTES, Codec
from edgeqa.metrics.config import SAMPLE_RATES

#: Largest WAV file read (about 18 h of 8 kHz stereo PCM16).
MAX_WAV_BYTES = 1 << 30
_FORMAT_TAGS: dict[int, Codec] = {1: "pcm16", 6: "alaw", 7: "ulaw"}
_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    """The file is not a WAV that edgeqa can analyse; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class WavAudio:
    """A parsed WAV: codec-encoded interleaved samples and their format."""

    sample_rate: int
    channels: int
    codec: Codec
    data: bytes

    @property
    def frames(self) -> int:
        """Samples per channel."""
        return len(self.data) // (CODEC_BYTES[self.codec] * self.channels)

    def channel(self, index: int) -> bytes:
        """Return one channel's encoded samples."""
        if not 0 <= index < self.channels:
            raise WavError(f"channel {index} does not exist (file has {self.channels})")
        width = CODEC_BYTES[self.codec]
        if self.channels == 1:
            return self.data[: self.frames * width]
        if width == 1:
            return self.data[index::self.channels]
        # 2-byte items sliced as they are: the bytes stay little-endian on any host.
        pcm = array("h", self.data[: self.frames * self.channels * 2])
        return pcm[index::self.channels].tobytes()


def parse_wav(raw: bytes) -> WavAudio:
    """Parse a whole WAV file's bytes, or raise WavError."""
    if not raw:
        raise WavError("empty file")
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise WavError("not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    for chunk_id, body, size in riff_chunks(raw):
        if chunk_id == b"fmt ":
            if size < 16 or body + size > len(raw):
                raise WavError("truncated or short fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", raw, body)
            if tag == _EXTENSIBLE and size >= 40:
                tag = struct.unpack_from("<H", raw, body + 24)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise WavError("data chunk before fmt chunk")
            if body + size > len(raw):
                raise WavError(f"truncated: data chunk declares {size} bytes, "
                               f"file holds {len(raw) - body}")
            return _audio(fmt, raw[body:body + size])
    raise WavError("truncated: no data chunk" if fmt else "truncated: no fmt chunk")


def riff_chunks(buf: bytes) -> Iterator[tuple[bytes, int, int]]:
    """The chunks after the 12-byte RIFF/WAVE header of ``buf``: (id, body offset, declared
    size), up to the last chunk header ``buf`` holds (a body may reach beyond ``buf``)."""
    pos = 12
    while pos + 8 <= len(buf):
        size: int = struct.unpack_from("<I", buf, pos + 4)[0]
        yield buf[pos:pos + 4], pos + 8, size
        pos += 8 + size + (size & 1)


def _audio(fmt: tuple[int, int, int, int], data: bytes) -> WavAudio:
    tag, channels, rate, bits = fmt
    codec = _FORMAT_TAGS.get(tag)
    if codec is None:
        raise WavError(f"unsupported WAV format tag {tag} (need PCM, µ-law or A-law)")
    if bits != 8 * CODEC_BYTES[codec]:
        raise WavError(f"unsupported {bits}-bit {codec} (need 16-bit PCM or 8-bit G.711)")
    if rate not in SAMPLE_RATES:
        raise WavError(f"unsupported sample rate {rate} Hz (need 8000 or 16000)")
    if channels not in (1, 2):
        raise WavError(f"unsupported channel count {channels} (need 1 or 2)")
    if not data:
        raise WavError("no audio (empty data chunk)")
    return WavAudio(rate, channels, codec, data)


def read_wav(path: str | Path) -> WavAudio:
    """Read and parse a WAV file, or raise WavError (OSError for unreadable files)."""
    p = Path(path)
    size = p.stat().st_size
    if size > MAX_WAV_BYTES:
        raise WavError(f"file too large ({size} bytes > {MAX_WAV_BYTES})")
    return parse_wav(p.read_bytes())
