"""WAV parsing: every accepted format, and one clear error for each kind of bad input."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from edgeqa.analyze.wavfile import WavError, parse_wav, read_wav
from tests.support.paths import CALLS

CALLS = CALLS


def wav(data: bytes, tag: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16,
        declared: int | None = None) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    size = len(data) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size)
    return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


def test_fixtures_parse() -> None:
    stereo = read_wav(CALLS / "clean.wav")
    assert (stereo.sample_rate, stereo.channels, stereo.codec) == (8000, 2, "pcm16")
    assert read_wav(CALLS / "clean.ulaw.wav").codec == "ulaw"
    assert read_wav(CALLS / "clean.alaw.wav").codec == "alaw"
    assert read_wav(CALLS / "talk_over.16k.wav").sample_rate == 16000
    assert stereo.channel(0) == read_wav(CALLS / "clean.customer.wav").data


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "empty file"),
    (b"hello, this is not audio at all", "not a WAV"),
    (wav(bytes(100), declared=1000), "truncated"),
    (wav(bytes(100))[:30], "truncated"),
    (wav(bytes(100), rate=44100), "44100 Hz"),
    (wav(bytes(96), channels=3), "channel count 3"),
    (wav(b""), "no audio"),
    (wav(bytes(100), tag=3, bits=32), "format tag 3"),
    (wav(bytes(100), bits=8), "8-bit pcm16"),
])
def test_bad_input(raw: bytes, message: str) -> None:
    with pytest.raises(WavError, match=message) as info:
        parse_wav(raw)
    assert "\n" not in str(info.value)


def test_extensible_and_odd_chunks() -> None:
    raw = wav(bytes(4))
    extra = b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd-sized chunk, padded
    spliced = raw[:12] + extra + raw[12:]
    assert parse_wav(spliced).data == bytes(4)


def _channel_reference(data: bytes, codec: str, channels: int, index: int) -> bytes:
    """The readable version: every sample of one channel, one at a time."""
    width = 2 if codec == "pcm16" else 1
    block = width * channels
    frames = len(data) // block
    return b"".join(data[f * block + index * width:f * block + (index + 1) * width]
                    for f in range(frames))


@pytest.mark.parametrize("name", ["clean.wav", "clean.ulaw.wav", "talk_over.16k.wav",
                                  "clean.customer.wav", "levels.alaw.wav"])
def test_channel_equals_the_reference_whole_and_in_blocks(name: str) -> None:
    audio = read_wav(CALLS / name)
    data = audio.data
    for index in range(audio.channels):
        want = _channel_reference(data, audio.codec, audio.channels, index)
        assert audio.channel(index) == want
        step = 12_345  # frames, not a multiple of anything the file has
        blocks = [audio.channel(index, f, f + step) for f in range(0, audio.frames + step, step)]
        assert b"".join(blocks) == want


def test_odd_stereo_g711_drops_the_partial_frame() -> None:
    raw = wav(bytes(range(7)), tag=7, channels=2, bits=8)
    audio = parse_wav(raw)
    assert (audio.frames, audio.channel(0), audio.channel(1)) == (3, b"\x00\x02\x04",
                                                                  b"\x01\x03\x05")


def test_a_file_that_shrinks_while_read_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    path.write_bytes(wav(bytes(64_000), channels=2))
    audio = read_wav(path)
    assert len(audio.channel(0, 0, 100)) == 200
    os.truncate(path, 100)
    with pytest.raises(WavError, match="shrank to 100 bytes while being read"):
        audio.channel(0, 8000, 16000)


def test_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "call.wav"
    os.mkfifo(fifo)
    with pytest.raises(WavError, match="is a FIFO, not a regular file"):
        read_wav(fifo)
