"""WAV parsing: every accepted format, and one clear error for each kind of bad input."""

from __future__ import annotations

import struct

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
