"""WAV reading for `edgeqa analyze`: 16-bit PCM, µ-law or A-law, 8 or 16 kHz, mono or stereo."""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeqa.metrics.codecs import CODEC_BYTES, Codec
from edgeqa.metrics.config import SAMPLE_RATES
from edgeqa.runtime.files import FileProblem, open_regular

#: Largest WAV file read: what a RIFF size field can describe (about 37 h of 8 kHz stereo
#: PCM16). The file is mapped, not read whole, so this bounds no memory.
MAX_WAV_BYTES = 1 << 32
_FORMAT_TAGS: dict[int, Codec] = {1: "pcm16", 6: "alaw", 7: "ulaw"}
_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    """The file is not a WAV that edgeqa can analyse; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class WavAudio:
    """A parsed WAV: its data chunk, ``size`` bytes at ``offset`` of ``buffer`` (the file's
    bytes, or the file mapped read-only), holding codec-encoded interleaved samples."""

    sample_rate: int
    channels: int
    codec: Codec
    buffer: bytes | mmap.mmap
    offset: int
    size: int

    @property
    def frames(self) -> int:
        """Samples per channel."""
        return self.size // (CODEC_BYTES[self.codec] * self.channels)

    @property
    def data(self) -> bytes:
        """The data chunk's bytes (a copy: for a long file, read it with ``channel``)."""
        return bytes(self.buffer[self.offset:self.offset + self.size])

    def channel(self, index: int, start: int = 0, stop: int | None = None) -> bytes:
        """Return one channel's encoded samples, frames ``start`` to ``stop`` (default: all),
        de-interleaved by numpy (2-byte samples stay little-endian on any host)."""
        if not 0 <= index < self.channels:
            raise WavError(f"channel {index} does not exist (file has {self.channels})")
        samples = self._interleaved(start, self.frames if stop is None else stop)
        if samples is None:
            return b""
        return (samples[index::self.channels] if self.channels > 1 else samples).tobytes()

    def channels_block(self, start: int, stop: int) -> list[bytes]:
        """Every channel's encoded samples, frames ``start`` to ``stop``, from one read of the
        interleaved block (a stereo call's two legs: the file is read once, not twice)."""
        samples = self._interleaved(start, stop)
        if samples is None:
            return [b""] * self.channels
        return [samples[i::self.channels].tobytes() for i in range(self.channels)]

    def _interleaved(self, start: int, stop: int) -> np.ndarray[Any, Any] | None:
        """Frames ``start`` to ``stop`` (cut at the end) as interleaved samples; None if none."""
        stop = min(stop, self.frames)
        if stop <= start:
            return None
        width = CODEC_BYTES[self.codec]
        end = self.offset + stop * width * self.channels
        if isinstance(self.buffer, mmap.mmap) and self.buffer.size() < end:
            # Reading a mapped page past the file's end would kill the process (SIGBUS).
            raise WavError(f"the file shrank to {self.buffer.size()} bytes while being read")
        return np.frombuffer(self.buffer, dtype="<i2" if width == 2 else "u1",
                             count=(stop - start) * self.channels,
                             offset=self.offset + start * width * self.channels)

    def done_with(self, start: int, stop: int) -> None:
        """Frames ``start`` to ``stop`` were read: let the kernel drop their pages from this
        process (a mapped file would otherwise stay resident until it is unmapped)."""
        if isinstance(self.buffer, mmap.mmap) and stop > start:
            block = CODEC_BYTES[self.codec] * self.channels
            first = (self.offset + start * block) // mmap.PAGESIZE * mmap.PAGESIZE
            last = (self.offset + stop * block) // mmap.PAGESIZE * mmap.PAGESIZE
            if last > first:
                self.buffer.madvise(mmap.MADV_DONTNEED, first, last - first)


def parse_wav(raw: bytes | mmap.mmap) -> WavAudio:
    """Parse a whole WAV file's bytes (or the file mapped), or raise WavError."""
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
            return _audio(fmt, raw, body, size)
    raise WavError("truncated: no data chunk" if fmt else "truncated: no fmt chunk")


def riff_chunks(buf: bytes | mmap.mmap) -> Iterator[tuple[bytes, int, int]]:
    """The chunks after the 12-byte RIFF/WAVE header of ``buf``: (id, body offset, declared
    size), up to the last chunk header ``buf`` holds (a body may reach beyond ``buf``)."""
    pos = 12
    while pos + 8 <= len(buf):
        size: int = struct.unpack_from("<I", buf, pos + 4)[0]
        yield buf[pos:pos + 4], pos + 8, size
        pos += 8 + size + (size & 1)


def _audio(fmt: tuple[int, int, int, int], raw: bytes | mmap.mmap, offset: int,
           size: int) -> WavAudio:
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
    if not size:
        raise WavError("no audio (empty data chunk)")
    block = CODEC_BYTES[codec] * channels
    if size < block:
        raise WavError(f"no audio: the data chunk holds {size} bytes, not one whole "
                       f"{block}-byte sample frame")
    return WavAudio(rate, channels, codec, raw, offset, size)


def read_wav(path: str | Path) -> WavAudio:
    """Map and parse a WAV file, or raise WavError (a FIFO, a device or any other file that
    is not a regular file is refused before any read; OSError for an unreadable file)."""
    try:
        fd, info = open_regular(path)
    except FileProblem as exc:
        raise WavError(str(exc)) from None
    try:
        if info.st_size > MAX_WAV_BYTES:
            raise WavError(f"file too large ({info.st_size} bytes > {MAX_WAV_BYTES})")
        if info.st_size == 0:
            raise WavError("empty file")
        mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    mapped.madvise(mmap.MADV_SEQUENTIAL)
    return parse_wav(mapped)
